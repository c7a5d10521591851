{{/*
Labels on every object: the one manifests/kustomization.yaml gives (part-of), and Helm's own.
Selectors use app.kubernetes.io/name alone, as manifests/ does: there is one release per cluster.
*/}}
{{- define "queryscaler.labels" -}}
app.kubernetes.io/part-of: queryscaler
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The ServiceAccount every binding names. */}}
{{- define "queryscaler.subject" -}}
subjects:
  - kind: ServiceAccount
    name: queryscaler
    namespace: {{ .Release.Namespace }}
{{- end }}

{{/*
Values that contradict each other stop the install with the fix (helm `fail`). The schema
(values.schema.json) has already checked each value's type.
*/}}
{{- define "queryscaler.validate" -}}
{{- $restrict := .Values.restrictSecretAccess -}}
{{- if and $restrict.names (not $restrict.enabled) -}}
{{- fail "restrictSecretAccess.names is set but restrictSecretAccess.enabled is false: set enabled: true, or the names grant nothing (queryscaler would list every Secret)" -}}
{{- end -}}
{{- range $namespace, $names := $restrict.names -}}
{{- if not (or $names.secrets $names.configMaps) -}}
{{- fail (printf "restrictSecretAccess.names.%s lists no secrets and no configMaps: list the names queryscaler may read there, or remove the namespace (an empty resourceNames would allow every name)" $namespace) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.podDisruptionBudget.enabled (ge (int .Values.podDisruptionBudget.minAvailable) (int .Values.replicaCount)) -}}
{{- fail (printf "podDisruptionBudget.minAvailable (%d) must be less than replicaCount (%d): otherwise no replica can ever be evicted and node drains hang" (int .Values.podDisruptionBudget.minAvailable) (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and (gt (int .Values.replicaCount) 1) (eq (int .Values.shards) 0) -}}
{{- fail (printf "replicaCount %d needs shards > 0: without shard Leases (shards: 0) every replica would poll and scale every ScaledObject" (int .Values.replicaCount)) -}}
{{- end -}}
{{- end }}
