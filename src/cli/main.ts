import { WeightBalanceError } from '../errors.js';
import type { Command, CliIO } from './io.js';
import { nodeIO } from './io.js';

/** The subcommands, by name. Each lives in its own module under `src/cli/commands/`. */
const commands: Record<string, () => Promise<Command>> = {
  'make-net': async () => (await import('./commands/make-net.js')).default,
  balance: async () => (await import('./commands/balance.js')).default,
  paper: async () => (await import('./commands/paper.js')).default,
  fig2: async () => (await import('./commands/fig2.js')).default,
  train: async () => (await import('./commands/train.js')).default,
};

function usage(): string {
  return [
    'usage: weight-balance <command> [options]',
    '',
    'commands:',
    ...Object.keys(commands).map((name) => `  ${name}`),
    '',
    "run 'weight-balance <command> --help' for a command's options",
  ].join('\n');
}

/**
 * Run the command line. Returns the exit code: 0 on success, 1 on a refused input or a failed
 * run, 2 on a usage error. Never throws.
 */
export async function main(argv: string[], io: CliIO = nodeIO()): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    io.out(usage() + '\n');
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    io.err(`weight-balance: unknown command '${name}'\n${usage()}\n`);
    return 2;
  }
  try {
    const command = await load();
    return await command(rest, io);
  } catch (error) {
    const text = error instanceof WeightBalanceError || error instanceof TypeError
      ? error.message
      : error instanceof Error ? error.stack ?? error.message : String(error);
    io.err(`weight-balance ${name}: ${text}\n`);
    return 1;
  }
}
