/**
 * Argument parsing shared by the subcommands, on `commander` (bundled into `dist/cli.js`), plus
 * typed accessors. A malformed command line is a {@link UsageError}: exit status 2, one line
 * naming the problem (with "did you mean" for a misspelt option) and a pointer to `--help`; a
 * well-formed one with refused values (e.g. `-p 0`, `-p -1`) reaches the library, which throws a
 * `WeightBalanceError` (exit status 1).
 */
import { Command as Commander, CommanderError, Option } from 'commander';
import { WeightBalanceError } from '../errors.js';
import type { CliIO, Command } from './io.js';

/** A malformed command line: unknown option, missing value, not a number. */
export class UsageError extends WeightBalanceError {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The options a command accepts: by long name (or the short letter, for `-p`/`-q`), string-valued or flags. */
export type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

/** A parsed command line. */
export interface ParsedArgs {
  values: Record<string, string | boolean | Array<string | boolean> | undefined>;
  positionals: string[];
}

/** The exit statuses, for every `--help` and the README. */
export const EXIT_STATUS_HELP = [
  'exit status:',
  '  0  success',
  '  1  refused input (a file, a value) or a failed run; the message names the problem',
  '  2  malformed command line (unknown option, missing or malformed value, an option given twice)',
  '  3  balance, paper: balanced (and written) but --max-sweeps came before max |log(Out/In)| <= --tol',
].join('\n');

/** One line from a commander message: without its `error: ` prefix, its lines joined. */
function oneLine(message: string): string {
  return message
    .replace(/^error: /, '')
    .replace('(Did you mean', '(did you mean')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ');
}

/** Commander's flags for one option of a spec: `-p, --p <value>`, `-o, --output <value>`, `--json`. */
function flagsOf(name: string, spec: OptionSpec[string]): string {
  const long = `--${name}`;
  const short = spec.short ?? (name.length === 1 ? name : undefined);
  const names = [short ? `-${short}` : '', long].filter(Boolean).join(', ');
  return spec.type === 'string' ? `${names} <value>` : names;
}

/** A commander command that parses `options` strictly, for {@link parseCommandArgs}. */
function parser(name: string, options: OptionSpec, io?: CliIO, help?: string): Commander {
  const command = new Commander(name)
    .exitOverride()
    .allowExcessArguments(true)
    .argument('[args...]')
    .configureOutput({ writeOut: (text) => io?.out(text), writeErr: () => undefined, outputError: () => undefined })
    .helpOption(help === undefined ? false : '-h, --help');
  if (help !== undefined) command.configureHelp({ formatHelp: () => `${help}\n\n${EXIT_STATUS_HELP}\n` });
  for (const [key, spec] of Object.entries(options)) {
    const option = new Option(flagsOf(key, spec));
    if (spec.type === 'string') {
      // A single-valued option given twice is ambiguous (which one was meant?); repeatable ones collect.
      option.argParser((value: string, previous: unknown) => {
        if (spec.multiple) return [...((previous as string[] | undefined) ?? []), value];
        if (previous !== undefined) throw new UsageError(`${optionLabel(key)} is given more than once`);
        return value;
      });
    }
    command.addOption(option);
  }
  return command;
}

/**
 * Parse `argv` strictly against `options`; a parse failure becomes a {@link UsageError}, and so
 * does a single-valued option given twice (`-p 1 -p 2` is ambiguous: which one was meant?).
 * A value may start with a dash (`-p -1`, `--tol -1`): the library then says what is wrong with it.
 */
export function parseCommandArgs(argv: string[], options: OptionSpec): ParsedArgs {
  return parseWith(parser('weight-balance', options), argv, options);
}

function parseWith(command: Commander, argv: string[], options: OptionSpec): ParsedArgs {
  try {
    command.parse(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError && error.code !== 'commander.helpDisplayed') throw new UsageError(oneLine(error.message));
    throw error;
  }
  const parsed = command.opts();
  const values: ParsedArgs['values'] = {};
  for (const option of command.options) {
    const key = Object.keys(options).find((k) => flagsOf(k, options[k]) === option.flags);
    if (key !== undefined) values[key] = parsed[option.attributeName()] as ParsedArgs['values'][string];
  }
  return { values, positionals: command.processedArgs[0] as string[] };
}

/** The value of a string option, or `undefined` when absent. */
export function stringArg(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  if (Array.isArray(v)) return v.length ? String(v[v.length - 1]) : undefined;
  return typeof v === 'string' ? v : undefined;
}

/** All values of a repeatable string option (empty when absent). */
export function stringListArg(args: ParsedArgs, name: string): string[] {
  const v = args.values[name];
  if (Array.isArray(v)) return v.map(String);
  return typeof v === 'string' ? [v] : [];
}

/** Whether a boolean flag is set. */
export function flagArg(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

/** Parse a number written on the command line (`1e-6`, `2`, `Infinity`); anything else is a {@link UsageError}. */
export function parseNumber(text: string, what: string): number {
  const trimmed = text.trim();
  const value = trimmed === '' ? NaN : Number(trimmed);
  if (Number.isNaN(value)) throw new UsageError(`${what}: expected a number, got '${text}'`);
  return value;
}

/** A numeric option, or `fallback` when absent. */
export function numberArg(args: ParsedArgs, name: string, fallback: number): number {
  const text = stringArg(args, name);
  return text === undefined ? fallback : parseNumber(text, optionLabel(name));
}

/** An integer option, or `fallback` when absent. */
export function integerArg(args: ParsedArgs, name: string, fallback: number): number {
  const value = numberArg(args, name, fallback);
  if (!Number.isSafeInteger(value)) throw new UsageError(`${optionLabel(name)}: expected an integer, got '${stringArg(args, name)}'`);
  return value;
}

/** An option restricted to a few words, or `fallback` when absent. */
export function choiceArg<T extends string>(args: ParsedArgs, name: string, choices: readonly T[], fallback: T): T {
  const text = stringArg(args, name);
  if (text === undefined) return fallback;
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(`${optionLabel(name)}: expected ${choices.map((c) => `'${c}'`).join(', ')}, got '${text}'`);
  }
  return text as T;
}

/** A list of positive integers separated by commas, spaces, `x` or `-`, e.g. `200,2500,1250,10` or `"4 8 2"`. */
export function parseSizes(text: string, what: string): number[] {
  const parts = text.trim().split(/\s*[,x-]\s*|\s+/);
  const sizes = parts.map((s) => (/^[0-9]+$/.test(s) ? Number(s) : NaN));
  if (sizes.length < 2 || sizes.some((n) => !Number.isSafeInteger(n) || n <= 0)) {
    throw new UsageError(`${what}: expected at least two positive integers like 200,2500,1250,10, got '${text}'`);
  }
  return sizes;
}

function optionLabel(name: string): string {
  return name.length === 1 ? `-${name}` : `--${name}`;
}

/** The first line of a usage text (its synopsis). */
function synopsis(usage: string): string {
  return usage.split('\n')[0];
}

/**
 * Make a {@link Command} from its usage text, its options and its body. `-h, --help` prints the
 * usage and the exit statuses; a {@link UsageError} is exit status 2 with one line naming the
 * problem, the synopsis and a pointer to `--help` on stderr; other errors go to `main`.
 */
export function defineCommand(name: string, usage: string, options: OptionSpec, body: (args: ParsedArgs, io: CliIO) => Promise<number>): Command {
  return async (argv, io) => {
    try {
      let args: ParsedArgs;
      try {
        args = parseWith(parser(`weight-balance ${name}`, options, io, usage), argv, options);
      } catch (error) {
        if (error instanceof CommanderError && error.code === 'commander.helpDisplayed') return 0;
        throw error;
      }
      return await body(args, io);
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      io.err(`weight-balance ${name}: ${error.message}\n${synopsis(usage)}\nsee 'weight-balance ${name} --help'\n`);
      return 2;
    }
  };
}
