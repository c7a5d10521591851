import { expect } from 'chai';
import { namespacedCollectionPath, parseWatchNamespaces } from '../../src/controller/watch-scope.js';

describe('watch scope', () => {
  const lists: Array<[string, string[]]> = [
    ['', []],
    [' , ,', []],
    ['team-a', ['team-a']],
    ['team-a, team-b ,team-a', ['team-a', 'team-b']],
    ['a1,z', ['a1', 'z']],
  ];
  for (const [text, namespaces] of lists) {
    it(`reads "${text}" as ${namespaces.length === 0 ? 'the whole cluster' : namespaces.join(' and ')}`, () => {
      expect(parseWatchNamespaces(text, '--watch-namespaces')).to.deep.equal(namespaces);
    });
  }

  const bad: Array<[string, string]> = [
    ['Team-A', 'Team-A'],
    ['team-a,-b', '-b'],
    ['team_a', 'team_a'],
    ['ns/x', 'ns/x'],
    [`${'a'.repeat(64)}`, 'a'.repeat(64)],
  ];
  for (const [text, name] of bad) {
    it(`refuses "${text.slice(0, 20)}" naming the bad entry and where it came from`, () => {
      expect(() => parseWatchNamespaces(text, 'WATCH_NAMESPACE')).to.throw(
        `WATCH_NAMESPACE: "${name}" is not a namespace name (lower-case letters, digits and "-", at most 63 characters); ` +
          'give a comma-separated list such as team-a,team-b, or leave it empty to watch the whole cluster',
      );
    });
  }

  it('puts the namespace before the resource of a cluster-wide collection path', () => {
    expect([
      namespacedCollectionPath('/apis/keda.sh/v1alpha1/scaledobjects', 'team-a'),
      namespacedCollectionPath('/api/v1/secrets', 'team-b'),
      namespacedCollectionPath('/apis/autoscaling/v2/horizontalpodautoscalers', 'x'),
    ]).to.deep.equal([
      '/apis/keda.sh/v1alpha1/namespaces/team-a/scaledobjects',
      '/api/v1/namespaces/team-b/secrets',
      '/apis/autoscaling/v2/namespaces/x/horizontalpodautoscalers',
    ]);
  });
});
