#!/usr/bin/env node
// The kubectl plugin: an executable named kubectl-queryscaler on PATH makes
// `kubectl queryscaler explain so/<name> -n <ns>` run queryscaler's explain (kubectl hands the
// plugin every argument after its name, flags included, and the environment with $KUBECONFIG).
import { Command } from 'commander';
import { exitCodeOfCommanderError, explainCommand } from './explain/command.js';

const program = new Command('kubectl queryscaler').description("queryscaler's commands as a kubectl plugin").exitOverride();
program.addCommand(explainCommand());

program.parseAsync().catch((error: unknown) => {
  process.exit(exitCodeOfCommanderError(error) ?? 1);
});
