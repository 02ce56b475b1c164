#!/usr/bin/env node
import { PACKAGE_VERSION } from '../server/package-version.js';
import { runBenchCommand } from './bench-command.js';
import { runInspectCommand, type CommandIo } from './inspect-command.js';
import { runOptimizeCommand } from './optimize-command.js';
import { runServeCommand } from './serve-command.js';

const HELP = `autoglm ${PACKAGE_VERSION} — an ONNX model-inference server (KServe v2 protocol)

Usage: autoglm <command> [options]

Commands:
  serve     serve a model repository over HTTP (autoglm serve --help)
  bench     measure a KServe v2 server under load (autoglm bench --help)
  inspect   what an ONNX model holds: signature, operators, parameters, MACs (autoglm inspect --help)
  optimize  graph passes and INT8/FP16 quantization, measured before/after (autoglm optimize --help)

Options:
  -h, --help     this help
  -v, --version  print the version
`;

const stdio: CommandIo = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

/** Subcommands by name; each resolves its exit code. */
const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  serve: runServeCommand,
  bench: (argv) => runBenchCommand(argv),
  inspect: (argv) => runInspectCommand(argv, stdio),
  optimize: (argv) => runOptimizeCommand(argv, stdio),
};

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (cmd === '-v' || cmd === '--version') {
    process.stdout.write(`${PACKAGE_VERSION}\n`);
    return 0;
  }
  const run = COMMANDS[cmd];
  if (!run) {
    process.stderr.write(`autoglm: unknown command '${cmd}'\n\n${HELP}`);
    return 2;
  }
  return run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    // Workers and sockets are closed by then; exit explicitly so a stray handle cannot keep the process up.
    process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`autoglm: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
