// Scale targets for tests, as YAML to apply: a StatefulSet whose pods never run, an HPA of the
// user's own on one, and a custom resource with a /scale subresource (Widget, example.com/v1), a
// kind queryscaler's ClusterRole does not name and its controller does not always watch.

/** A StatefulSet of one replica whose image is never pulled (there are no kubelets). */
export function statefulSet(name: string): string {
  return `
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: ${name} }
spec:
  replicas: 1
  serviceName: ${name}
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec: { containers: [{ name: main, image: registry.invalid/never-pulled:1 }] }
`;
}

/** An HPA of the user's own (not queryscaler's) on StatefulSet `target`. */
export function foreignHpa(name: string, target: string): string {
  return `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: { name: ${name} }
spec:
  scaleTargetRef: { apiVersion: apps/v1, kind: StatefulSet, name: ${target} }
  minReplicas: 1
  maxReplicas: 2
  metrics: [{ type: Resource, resource: { name: cpu, target: { type: Utilization, averageUtilization: 80 } } }]
`;
}

export const WIDGET_CRD_NAME = 'widgets.example.com';

export const WIDGET_CRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${WIDGET_CRD_NAME}
spec:
  group: example.com
  names: { kind: Widget, plural: widgets, singular: widget, listKind: WidgetList }
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      subresources:
        status: {}
        scale: { specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas }
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: { type: object, properties: { replicas: { type: integer } } }
            status: { type: object, properties: { replicas: { type: integer } } }
`;

export function widget(name: string, replicas = 1): string {
  return JSON.stringify({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name }, spec: { replicas } });
}
