// Settings that are valid but that a database-backed workload can never live with. The controller
// turns each into a Warning Event on the ScaledObject and keeps going: these are advice, not errors.
//
// ScaleToZeroOwnDatabase: the trigger queries the very StatefulSet it scales. At zero replicas the
// query has nowhere to run, the trigger fails instead of turning active, and nothing scales it up.
// "Points at" is decided from names alone (pure, no lookups): the host, with any port and cluster
// domain removed, must name the target's namespace (or none, meaning the ScaledObject's own) and
// either a Service called like the target, like its StatefulSet serviceName, or `<target>-instances`
// (the MySQL Operator's headless Service), or one pod of it (`<target>-<ordinal>.<service>`). A
// Service of another name in front of the same pods, or an IP address, is not recognised.
//
// InnoDBClusterMemberLimit: MySQL Group Replication holds at most 9 members, so on a StatefulSet
// the MySQL Operator made for an InnoDB Cluster, pod 10 and beyond never join the group.

export interface GuardRailInput {
  namespace: string;
  targetKind: string;
  targetName: string;
  targetLabels: Record<string, string>;
  podTemplateLabels: Record<string, string>;
  containerNames: string[];
  minReplicaCount: number;
  idleReplicaCount?: number;
  maxReplicaCount: number;
  /** host of each mysql trigger after credential resolution */
  triggerHosts: string[];
  /** The StatefulSet's spec.serviceName: its pods answer at `<target>-<ordinal>.<serviceName>`. */
  serviceName?: string;
}

export interface GuardRailWarning {
  reason: 'ScaleToZeroOwnDatabase' | 'InnoDBClusterMemberLimit';
  message: string;
}

export const GROUP_REPLICATION_MAX_MEMBERS = 9;

export function guardRailWarnings(input: GuardRailInput): GuardRailWarning[] {
  const warnings: GuardRailWarning[] = [];
  const ownDatabase = scaleToZeroOwnDatabase(input);
  if (ownDatabase !== undefined) warnings.push(ownDatabase);
  const memberLimit = innoDbClusterMemberLimit(input);
  if (memberLimit !== undefined) warnings.push(memberLimit);
  return warnings;
}

function scaleToZeroOwnDatabase(input: GuardRailInput): GuardRailWarning | undefined {
  const field = input.minReplicaCount === 0 ? 'minReplicaCount' : input.idleReplicaCount === 0 ? 'idleReplicaCount' : undefined;
  if (field === undefined) return undefined;
  const hosts = input.triggerHosts.filter((host) => hostPointsAtTarget(host, input));
  if (hosts.length === 0) return undefined;
  const quoted = [...new Set(hosts)].map((host) => JSON.stringify(host));
  const subject = quoted.length === 1 ? `mysql trigger host ${quoted[0]} is` : `mysql trigger hosts ${quoted.join(', ')} are`;
  const fix =
    field === 'minReplicaCount' ? 'Set minReplicaCount to 1 or more.' : 'Remove idleReplicaCount or set it to 1 or more.';
  return {
    reason: 'ScaleToZeroOwnDatabase',
    message:
      `${field} is 0, but ${subject} ${input.targetKind} ${input.namespace}/${input.targetName} itself: ` +
      'scaled to zero, the database has nothing left to run the query, so the trigger could never turn active ' +
      `to scale it back up. ${fix}`,
  };
}

function innoDbClusterMemberLimit(input: GuardRailInput): GuardRailWarning | undefined {
  if (input.maxReplicaCount <= GROUP_REPLICATION_MAX_MEMBERS) return undefined;
  const evidence = innoDbClusterEvidence(input);
  if (evidence === undefined) return undefined;
  const first = GROUP_REPLICATION_MAX_MEMBERS + 1;
  return {
    reason: 'InnoDBClusterMemberLimit',
    message:
      `${input.targetKind} ${input.namespace}/${input.targetName} is a MySQL InnoDB Cluster (${evidence}), and Group ` +
      `Replication holds at most ${GROUP_REPLICATION_MAX_MEMBERS} members: with maxReplicaCount ${input.maxReplicaCount}, ` +
      `pod ${first} and beyond would never join the group. Set maxReplicaCount to ${GROUP_REPLICATION_MAX_MEMBERS}.`,
  };
}

const CLUSTER_LABEL = 'mysql.oracle.com/cluster';
const INSTANCE_TYPE_LABEL = 'mysql.oracle.com/instance-type';
const CREATED_BY_LABEL = 'app.kubernetes.io/created-by';
const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
const OPERATOR = 'mysql-operator';

/**
 * Why the target looks like the group-member StatefulSet the MySQL Operator makes for an
 * InnoDBCluster, or undefined. Read-replica StatefulSets (instance-type read-replica) are not
 * group members and have no such limit.
 */
export function innoDbClusterEvidence(
  input: Pick<GuardRailInput, 'targetKind' | 'targetLabels' | 'podTemplateLabels' | 'containerNames'>,
): string | undefined {
  if (input.targetKind !== 'StatefulSet') return undefined;
  const label = (name: string): string | undefined => input.targetLabels[name] ?? input.podTemplateLabels[name];
  if (label(INSTANCE_TYPE_LABEL) === 'read-replica') return undefined;
  const cluster = label(CLUSTER_LABEL);
  if (cluster !== undefined) return `label ${CLUSTER_LABEL}=${cluster}`;
  if (label(CREATED_BY_LABEL) === OPERATOR) return `label ${CREATED_BY_LABEL}=${OPERATOR}`;
  if (label(MANAGED_BY_LABEL) === OPERATOR) return `label ${MANAGED_BY_LABEL}=${OPERATOR}`;
  if (input.containerNames.includes('mysql') && input.containerNames.includes('sidecar')) {
    return 'containers "mysql" and "sidecar", as the MySQL Operator makes them';
  }
  return undefined;
}

interface DnsReading {
  pod?: string;
  service: string;
  namespace: string;
}

/** Whether a trigger's host names the target (see the file comment for what that means). */
export function hostPointsAtTarget(
  host: string,
  target: Pick<GuardRailInput, 'namespace' | 'targetName' | 'serviceName'>,
): boolean {
  const name = target.targetName.toLowerCase();
  const services = new Set([name, `${name}-instances`]);
  if (target.serviceName !== undefined) services.add(target.serviceName.toLowerCase());
  const podName = new RegExp(`^${escapeRegExp(name)}-[0-9]+$`);
  return dnsReadings(host, target.namespace.toLowerCase()).some(
    (reading) =>
      reading.namespace === target.namespace.toLowerCase() &&
      services.has(reading.service) &&
      (reading.pod === undefined || podName.test(reading.pod)),
  );
}

/** Every way cluster DNS (with its search path `<ns>.svc.<domain>`, `svc.<domain>`) can read the host. */
function dnsReadings(host: string, ownNamespace: string): DnsReading[] {
  let name = host.trim().toLowerCase();
  const port = /^([^:]+):[0-9]+$/.exec(name);
  if (port !== null) name = port[1] as string;
  // IPv6 literals and anything else with a colon cannot name a Service.
  if (name.includes(':')) return [];
  name = name.replace(/\.$/, '');
  const labels = name.split('.');
  if (labels.some((label) => label === '') || labels.every((label) => /^[0-9]+$/.test(label))) return [];

  const svc = labels.indexOf('svc');
  const [a, b, c] = labels as [string, string | undefined, string | undefined];
  if (svc === 2) return [{ service: a, namespace: b as string }];
  if (svc === 3) return [{ pod: a, service: b as string, namespace: c as string }];
  if (svc !== -1) return [];
  switch (labels.length) {
    case 1:
      return [{ service: a, namespace: ownNamespace }];
    case 2:
      // `x.y` is service x in namespace y, or pod x of service y in our own namespace.
      return [
        { service: a, namespace: b as string },
        { pod: a, service: b as string, namespace: ownNamespace },
      ];
    case 3:
      return [{ pod: a, service: b as string, namespace: c as string }];
    default:
      return [];
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
