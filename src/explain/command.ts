// The `explain` command line, shared by `queryscaler explain` and the kubectl plugin
// (`kubectl queryscaler explain`): flags in, an Explanation printed, an exit code a script can use.
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { pino } from 'pino';
import { EXIT_CODES, explainScaledObject, ExplainError, QueryFailed, type ExitCode, type ScaledObjectSource } from './explain.js';
import { renderExplanation } from './render.js';
import { clusterSource, fileSource, withParameters, type ManifestFile } from './sources.js';

export const EXIT_CODE_HELP = `Exit codes:
  0  explained
  1  unexpected failure (a bug, or the machine)
  2  usage: a flag, a value or a file is wrong
  3  the ScaledObject, its target or its credentials are missing or invalid
  4  a trigger's query failed (the explanation so far is printed)
  5  the Kubernetes API could not be reached or refused a read`;

interface ExplainFlags {
  namespace?: string;
  kubeconfig?: string;
  file: string[];
  set: string[];
  currentReplicas?: number;
  queryValue?: string[];
  activationQueryValue?: string[];
  trigger: number;
  clusterTriggerAuthenticationNamespace: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function numberList(value: string): string[] {
  const items = value.split(',').map((item) => item.trim());
  if (items.some((item) => item === '' || !Number.isFinite(Number(item)))) {
    throw new InvalidArgumentError(`"${value}" is not a comma-separated list of numbers, e.g. 2,3,5`);
  }
  return items;
}

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`"${value}" is not a whole number >= 0`);
  return n;
}

/** so/<name>, scaledobject/<name>, scaledobjects.keda.sh/<name> or a bare name, as kubectl takes them. */
export function scaledObjectName(argument: string): string {
  const slash = argument.indexOf('/');
  if (slash < 0) return argument;
  const kind = argument.slice(0, slash).toLowerCase();
  const name = argument.slice(slash + 1);
  const kinds = new Set(['so', 'scaledobject', 'scaledobjects', 'scaledobject.keda.sh', 'scaledobjects.keda.sh']);
  if (!kinds.has(kind) || name === '' || name.includes('/')) {
    throw new ExplainError(EXIT_CODES.usage, `"${argument}" is not a ScaledObject: write so/<name>`);
  }
  return name;
}

function parameters(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    // Never echo the value: it is often a password.
    if (eq <= 0) throw new ExplainError(EXIT_CODES.usage, `--set takes <parameter>=<value>, e.g. --set password=...; got one without "=" (or without a parameter name)`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

function readFiles(paths: readonly string[]): ManifestFile[] {
  return paths.map((path) => {
    try {
      return { path, text: readFileSync(path, 'utf8') };
    } catch (error) {
      throw new ExplainError(EXIT_CODES.usage, `cannot read --file ${path}: ${error instanceof Error ? error.message : String(error)}`);
    }
  });
}

function source(argument: string | undefined, flags: ExplainFlags): ScaledObjectSource {
  const name = argument === undefined ? undefined : scaledObjectName(argument);
  const set = parameters(flags.set);
  if (flags.file.length > 0) {
    return withParameters(
      fileSource({
        files: readFiles(flags.file),
        ...(flags.namespace !== undefined && { namespace: flags.namespace }),
        ...(name !== undefined && { name }),
        clusterTriggerAuthenticationNamespace: flags.clusterTriggerAuthenticationNamespace,
      }),
      set,
    );
  }
  if (name === undefined) throw new ExplainError(EXIT_CODES.usage, 'name the ScaledObject (so/<name>), or give its manifest with --file for an explanation without a cluster');
  const kubeConfig = new KubeConfig();
  try {
    if (flags.kubeconfig !== undefined) kubeConfig.loadFromFile(flags.kubeconfig);
    else kubeConfig.loadFromDefault();
  } catch (error) {
    throw new ExplainError(EXIT_CODES.usage, `cannot load the kubeconfig ${flags.kubeconfig ?? '($KUBECONFIG or ~/.kube/config)'}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (kubeConfig.getCurrentCluster() === null) {
    throw new ExplainError(EXIT_CODES.usage, 'the kubeconfig has no current cluster: give --kubeconfig, or --file for an explanation without a cluster');
  }
  const namespace = flags.namespace ?? kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace ?? 'default';
  return withParameters(clusterSource({ kubeConfig, namespace, name, clusterTriggerAuthenticationNamespace: flags.clusterTriggerAuthenticationNamespace }), set);
}

async function run(argument: string | undefined, flags: ExplainFlags): Promise<ExitCode> {
  let from: ScaledObjectSource | undefined;
  try {
    from = source(argument, flags);
    const explanation = await explainScaledObject(from, {
      logger: pino({ level: 'silent' }),
      ...(flags.currentReplicas !== undefined && { currentReplicas: flags.currentReplicas }),
      ...((flags.queryValue !== undefined || flags.activationQueryValue !== undefined) && {
        whatIf: { triggerIndex: flags.trigger, queryValues: flags.queryValue ?? [], activationQueryValues: flags.activationQueryValue ?? [] },
      }),
    });
    process.stdout.write(renderExplanation(explanation));
    return EXIT_CODES.ok;
  } catch (error) {
    if (error instanceof QueryFailed) process.stdout.write(renderExplanation(error.explanation));
    if (error instanceof ExplainError) {
      process.stderr.write(`error: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_CODES.internal;
  } finally {
    from?.close();
  }
}

export function explainCommand(): Command {
  return new Command('explain')
    .description(
      'Explain one ScaledObject: run its query once as the controller would, and show the value, whether it is active, ' +
        'the replicas the HPA would compute at the current count, the HPA bounds and behavior, and a what-if table',
    )
    .argument('[scaledobject]', 'so/<name>; may be left out with --file when the files hold one ScaledObject')
    .option('-n, --namespace <namespace>', "the ScaledObject's namespace (default: the kubeconfig context's, or default)")
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG or ~/.kube/config)')
    .option('-f, --file <path>', 'read the ScaledObject and its Secrets, TriggerAuthentications, ConfigMaps and target from this manifest (repeatable): no cluster', collect, [])
    .option('--set <parameter=value>', 'set a trigger parameter, replacing it in the metadata or giving it as an authentication parameter, e.g. --set password=... (repeatable)', collect, [])
    .option('--current-replicas <n>', "explain at this replica count instead of the target's", wholeNumber)
    .option('--query-value <list>', 'what if queryValue were each of these, e.g. 2,3,5', numberList)
    .option('--activation-query-value <list>', 'what if activationQueryValue were each of these, e.g. 0,5,10', numberList)
    .option('--trigger <index>', 'the trigger the what-if changes', wholeNumber, 0)
    .option(
      '--cluster-trigger-authentication-namespace <ns>',
      'namespace whose Secrets and ConfigMaps ClusterTriggerAuthentications read',
      process.env.POD_NAMESPACE ?? 'queryscaler',
    )
    .addHelpText('after', `\n${EXIT_CODE_HELP}`)
    .exitOverride()
    .action(async (argument: string | undefined, flags: ExplainFlags) => {
      process.exitCode = await run(argument, flags);
    });
}

/** Commander's own errors (unknown flag, bad value, no subcommand): usage; asking for help is not an error. */
export function exitCodeOfCommanderError(error: unknown): ExitCode | undefined {
  if (!(error instanceof CommanderError)) return undefined;
  return error.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.usage;
}
