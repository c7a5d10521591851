import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { crdPath, openApiSchema, packageRoot, schemaFromCrdText } from '../../src/api/schema.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');

describe('src/api/schema.ts', () => {
  const roots: [string, string][] = [
    ['run from src by tsx', `${ROOT}/src/api/schema.ts`],
    ['run from dist after tsc', `${ROOT}/dist/src/api/schema.js`],
  ];
  for (const [name, from] of roots) {
    it(`finds the package root when ${name}`, () => expect(packageRoot(from)).to.equal(ROOT));
  }

  it('says what to do when there is no package.json above', () => {
    expect(() => packageRoot('/nowhere/schema.js')).to.throw('no package.json above /nowhere/schema.js; crds/ must ship next to package.json');
  });

  it('reads each kind from its own file', () => {
    expect(crdPath('ClusterTriggerAuthentication')).to.equal(`${ROOT}/crds/keda.sh_clustertriggerauthentications.yaml`);
    expect(openApiSchema('ScaledObject').properties?.spec?.required).to.deep.equal(['scaleTargetRef', 'triggers']);
    expect(Object.keys(openApiSchema('TriggerAuthentication').properties?.spec?.properties ?? {}).slice(0, 3)).to.deep.equal([
      'secretTargetRef',
      'configMapTargetRef',
      'env',
    ]);
  });

  it('refuses a file holding another kind', () => {
    const text = 'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec:\n  names: { kind: ScaledJob }\n';
    expect(() => schemaFromCrdText(text, 'ScaledObject', 'crds/x.yaml')).to.throw('crds/x.yaml is not the CustomResourceDefinition of ScaledObject');
  });

  it('refuses a CRD without a v1alpha1 schema', () => {
    const text = 'kind: CustomResourceDefinition\nspec:\n  names: { kind: ScaledObject }\n  versions: [{ name: v1 }]\n';
    expect(() => schemaFromCrdText(text, 'ScaledObject', 'crds/x.yaml')).to.throw('crds/x.yaml has no v1alpha1 openAPIV3Schema');
  });
});
