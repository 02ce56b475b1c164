/** Whether this host's CPU has VNNI (AVX-512 VNNI or AVX-VNNI), from /proc/cpuinfo; undefined where unreadable. */
import { readFileSync } from 'node:fs';

export function hostHasVnni(): boolean | undefined {
  try {
    const flags = readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1].split(/\s+/) ?? [];
    return flags.includes('avx512_vnni') || flags.includes('avx_vnni');
  } catch {
    return undefined;
  }
}
