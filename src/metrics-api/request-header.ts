// The front proxy's contract, published by kube-apiserver in ConfigMap
// kube-system/extension-apiserver-authentication: which CA signs the aggregator's client
// certificate, which common names it may carry, and which headers hold the end user's identity.

export const AUTHENTICATION_CONFIGMAP_NAMESPACE = 'kube-system';
export const AUTHENTICATION_CONFIGMAP_NAME = 'extension-apiserver-authentication';

export interface RequestHeaderConfig {
  /** PEM bundle the front proxy's client certificate must chain to. */
  clientCaPem: string;
  /** Common names allowed on that certificate; empty allows any. */
  allowedNames: string[];
  usernameHeaders: string[];
  groupHeaders: string[];
  extraHeaderPrefixes: string[];
}

// What kube-aggregator sends; used when kube-apiserver published no header names.
const DEFAULT_USERNAME_HEADERS = ['X-Remote-User'];
const DEFAULT_GROUP_HEADERS = ['X-Remote-Group'];
const DEFAULT_EXTRA_PREFIXES = ['X-Remote-Extra-'];

/** Pure: the ConfigMap's data as a config, or an error saying what is missing. */
export function requestHeaderConfigFromData(data: Readonly<Record<string, string>> | undefined): RequestHeaderConfig {
  const where = `ConfigMap ${AUTHENTICATION_CONFIGMAP_NAMESPACE}/${AUTHENTICATION_CONFIGMAP_NAME}`;
  const clientCaPem = data?.['requestheader-client-ca-file'] ?? '';
  if (!clientCaPem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new Error(
      `${where} has no requestheader-client-ca-file: start kube-apiserver with --requestheader-client-ca-file so the aggregator's client certificate can be verified`,
    );
  }
  return {
    clientCaPem,
    allowedNames: stringList(data, 'requestheader-allowed-names', where) ?? [],
    usernameHeaders: nonEmpty(stringList(data, 'requestheader-username-headers', where)) ?? DEFAULT_USERNAME_HEADERS,
    groupHeaders: nonEmpty(stringList(data, 'requestheader-group-headers', where)) ?? DEFAULT_GROUP_HEADERS,
    extraHeaderPrefixes: nonEmpty(stringList(data, 'requestheader-extra-headers-prefix', where)) ?? DEFAULT_EXTRA_PREFIXES,
  };
}

/** The values are JSON arrays of strings, e.g. `["X-Remote-User"]`. */
function stringList(data: Readonly<Record<string, string>> | undefined, key: string, where: string): string[] | undefined {
  const raw = data?.[key];
  if (raw === undefined || raw.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error(`${where}: ${key} is not a JSON list of strings: ${raw}`);
  }
  if (!Array.isArray(parsed) || !parsed.every((v): v is string => typeof v === 'string')) {
    throw new Error(`${where}: ${key} is not a JSON list of strings: ${raw}`);
  }
  return parsed;
}

function nonEmpty(list: string[] | undefined): string[] | undefined {
  return list === undefined || list.length === 0 ? undefined : list;
}
