/**
 * Arrival rate as an exponentially decaying count: each arrival adds its rows, the count decays with time constant
 * tau, and rate = count / tau (rows per µs). It follows a steady rate λ to λ within a few tau and falls back to 0
 * when arrivals stop — reading it at a later `now` applies the decay, so silence lowers the rate without a timer.
 */
export class ArrivalRate {
  private count = 0;
  private lastUs = 0;

  constructor(private readonly tauUs = 50_000) {}

  observe(rows: number, nowUs: number): void {
    this.count = this.decayed(nowUs) + rows;
    this.lastUs = Math.max(this.lastUs, nowUs);
  }

  /** Rows per microsecond at `nowUs`. */
  rate(nowUs: number): number {
    return this.decayed(nowUs) / this.tauUs;
  }

  private decayed(nowUs: number): number {
    const dt = nowUs - this.lastUs;
    return dt <= 0 ? this.count : this.count * Math.exp(-dt / this.tauUs);
  }
}
