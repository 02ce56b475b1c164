/**
 * ONNX Runtime's telemetry, off unless the operator opts in.
 *
 * onnxruntime-node 1.30 (Linux) starts its telemetry when the process creates its first session (the native
 * OrtEnv): it writes a device id and an event database under `$HOME/.cache/Microsoft/DeveloperTools/.onnxruntime/`,
 * plus `$TMPDIR/mat-debug-<pid>.log` and `$TMPDIR/.ses`, and may upload events. It reads `ORT_DISABLE_TELEMETRY`
 * from the process environment at that moment. Measured here (issue 14): setting `process.env` in the main thread
 * works after `import('onnxruntime-node')` and after `listSupportedBackends()`, as long as no session exists yet,
 * and it covers sessions created in worker threads (where ours are), because assigning to `process.env` in the
 * main thread sets the real process environment, which the native library reads. Once a session exists in the
 * process the choice is made: it cannot be turned off later. test/cli/telemetry.test.ts proves nothing is written.
 */

/** The variable onnxruntime reads; '1' turns telemetry off. */
export const ORT_TELEMETRY_ENV = 'ORT_DISABLE_TELEMETRY';

/**
 * Turns ONNX Runtime's telemetry off for this process unless `allow`; call in the main thread before the first
 * session is created. With `allow`, the environment is left as it is (an operator's own ORT_DISABLE_TELEMETRY=1
 * still holds).
 */
export function configureOrtTelemetry(allow: boolean): void {
  if (!allow) process.env[ORT_TELEMETRY_ENV] = '1';
}
