/** The `loft` command: parses arguments (commander) and runs one subcommand. */
import { CommanderError, type Command } from 'commander';
import { CHECK_EXIT, registerCheck } from './commands/check.js';
import { registerDevices } from './commands/devices.js';
import { registerGc } from './commands/gc.js';
import { registerMigrate } from './commands/migrate.js';
import { registerHistory } from './commands/history.js';
import { registerLink } from './commands/link.js';
import { registerShare } from './commands/share.js';
import { registerMount } from './commands/mount.js';
import { registerPin } from './commands/pin.js';
import { registerRestore } from './commands/restore.js';
import { registerSearch } from './commands/search.js';
import { registerServe } from './commands/serve.js';
import { registerStatus } from './commands/status.js';
import { registerUser } from './commands/user.js';
import { PRIVATE_UMASK } from '../shared/private-dir.js';
import { applyEnvRule, LoftCommand } from './env-flags.js';
import { reportError } from './errors.js';

export function buildProgram(): Command {
  const program = new LoftCommand('loft')
    .description('Loft: self-hosted file storage and sync with an on-demand drive')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({
      // One line per user error: "loft: <what is wrong> (see --help)".
      // (commander puts a suggestion on a second line: "(Did you mean --blocks?)"; kept, on this one.)
      outputError: (str, write) =>
        write(
          `loft: ${str
            .replace(/^error: /, '')
            .trim()
            .replace(/\s*\n\s*/g, ' ')} (see --help)\n`,
        ),
    });
  registerServe(program);
  registerUser(program);
  registerMount(program);
  registerStatus(program);
  registerCheck(program);
  registerPin(program);
  registerHistory(program);
  registerRestore(program);
  registerGc(program);
  registerMigrate(program);
  registerLink(program);
  registerShare(program);
  registerDevices(program);
  registerSearch(program);
  const inherit = (c: Command): void => {
    for (const sub of c.commands) {
      // `loft check` keeps 1 for "not in sync": its usage errors exit with 2 (its --help says so).
      const usageExit = sub.name() === 'check' ? CHECK_EXIT.error : null;
      sub
        .exitOverride((err) => {
          if (usageExit !== null && err.exitCode === 1)
            throw new CommanderError(usageExit, err.code, err.message);
          throw err;
        })
        .configureOutput(program.configureOutput());
      inherit(sub);
    }
  };
  inherit(program);
  applyEnvRule(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  // Everything a loft process writes (server data, drive state) is its owner's alone.
  process.umask(PRIVATE_UMASK);
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed its one-line message (or the help/version text).
      process.exitCode = err.exitCode;
      return;
    }
    process.exitCode = reportError(err);
  }
}
