/**
 * The `weight-balance` command line, on `commander`: a line per command in the top-level help,
 * `--version`, `help <command>`, "did you mean" for a misspelt command. Each command lives in its
 * own module under `src/cli/commands/`, loaded only when run, and parses its own options.
 */
import { Command as Commander, CommanderError } from 'commander';
import packageJson from '../../package.json' with { type: 'json' };
import { WeightBalanceError } from '../errors.js';
import { closestWord } from '../options.js';
import { EXIT_STATUS_HELP } from './args.js';
import type { CliIO, Command } from './io.js';
import { nodeIO } from './io.js';

/** The subcommands, by name, with their one-line description. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  'make-net': {
    summary: 'write a He-initialised ReLU network (an MLP or the small CNN preset)',
    load: async () => (await import('./commands/make-net.js')).default,
  },
  balance: { summary: 'balance a .safetensors or .onnx model file (the l_{p,q} fix)', load: async () => (await import('./commands/balance.js')).default },
  paper: {
    summary: "balance the paper's 200-2500-1250-10 MLP and print ||W||/||W0|| per sweep",
    load: async () => (await import('./commands/paper.js')).default,
  },
  fig2: { summary: "the experiment of the paper's Fig. 2: ratios per sweep to a CSV file", load: async () => (await import('./commands/fig2.js')).default },
  train: { summary: 'train a ReLU MLP by gradient descent or the weight-balancing flow', load: async () => (await import('./commands/train.js')).default },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length), 'help'.length);
  return [
    'usage: weight-balance <command> [options]',
    '',
    'Balance the weights of ReLU networks: the l_{p,q} fix and the weight-balancing flows.',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    `  ${'help'.padEnd(width)}  show a command's options: weight-balance help <command>`,
    '',
    'options:',
    '  -h, --help     this help',
    '  -V, --version  the version',
    '',
    "run 'weight-balance <command> --help' for a command's options",
    '',
    EXIT_STATUS_HELP,
  ].join('\n');
}

/** The top-level parser: the command name, then everything else passed to that command. */
function program(io: CliIO, run: (name: string, rest: string[]) => Promise<number>): { commander: Commander; code: () => number } {
  let code = 0;
  const commander = new Commander('weight-balance')
    .exitOverride()
    .enablePositionalOptions()
    .version(packageJson.version, '-V, --version')
    .helpCommand(false)
    .configureOutput({ writeOut: (text) => io.out(text), writeErr: () => undefined, outputError: () => undefined })
    .configureHelp({ formatHelp: () => `${usage()}\n` });
  for (const name of [...Object.keys(COMMANDS), 'help']) {
    commander
      .command(name)
      .helpOption(false)
      .allowUnknownOption()
      .allowExcessArguments()
      .passThroughOptions()
      .argument('[args...]')
      .action(async (args: string[]) => {
        code = await run(name, args);
      });
  }
  return { commander, code: () => code };
}

function unknownCommand(name: string, io: CliIO): number {
  const near = closestWord(name, Object.keys(COMMANDS));
  io.err(
    `weight-balance: unknown command '${name}'${near ? ` (did you mean '${near}'?)` : ''}; commands: ${Object.keys(COMMANDS).join(', ')}\nsee 'weight-balance --help'\n`,
  );
  return 2;
}

/**
 * Run the command line. Returns the exit status: 0 on success, 1 on a refused input or a failed
 * run, 2 on a usage error. Never throws.
 */
export async function main(argv: string[], io: CliIO = nodeIO()): Promise<number> {
  const run = async (name: string, rest: string[]): Promise<number> => {
    if (name === 'help') {
      if (rest.length === 0) {
        io.out(`${usage()}\n`);
        return 0;
      }
      return COMMANDS[rest[0]] ? runCommand(rest[0], ['--help'], io) : unknownCommand(rest[0], io);
    }
    return runCommand(name, rest, io);
  };
  if (argv.length === 0) {
    io.err(`${usage()}\n`);
    return 2;
  }
  if (!argv[0].startsWith('-') && !COMMANDS[argv[0]] && argv[0] !== 'help') return unknownCommand(argv[0], io);
  const { commander, code } = program(io, run);
  try {
    await commander.parseAsync(argv, { from: 'user' });
    return code();
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
      io.err(
        `weight-balance: ${error.message
          .replace(/^error: /, '')
          .split('\n')
          .join(' ')}\nsee 'weight-balance --help'\n`,
      );
      return 2;
    }
    io.err(`weight-balance: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

async function runCommand(name: string, rest: string[], io: CliIO): Promise<number> {
  try {
    const command = await COMMANDS[name].load();
    return await command(rest, io);
  } catch (error) {
    const text =
      error instanceof WeightBalanceError || error instanceof TypeError
        ? error.message
        : error instanceof Error
          ? (error.stack ?? error.message)
          : String(error);
    io.err(`weight-balance ${name}: ${text}\n`);
    return 1;
  }
}
