import { expect } from 'chai';
import { counterGrowth, histogramWindow, parseExposition } from '../../bench/support/prometheus-text.js';

const BEFORE = parseExposition(`# HELP queryscaler_kube_api_requests_total Requests
# TYPE queryscaler_kube_api_requests_total counter
queryscaler_kube_api_requests_total{verb="get",resource="statefulsets/scale"} 10
queryscaler_kube_api_requests_total{verb="patch",resource="scaledobjects/status"} 5
queryscaler_poll_lag_seconds_bucket{le="0.001"} 10
queryscaler_poll_lag_seconds_bucket{le="0.01"} 20
queryscaler_poll_lag_seconds_bucket{le="+Inf"} 20
`);
const AFTER = parseExposition(`queryscaler_kube_api_requests_total{verb="get",resource="statefulsets/scale"} 12
queryscaler_kube_api_requests_total{verb="get",resource="statefulsets"} 3
queryscaler_kube_api_requests_total{verb="patch",resource="scaledobjects/status"} 5
queryscaler_poll_lag_seconds_bucket{le="0.001"} 108
queryscaler_poll_lag_seconds_bucket{le="0.01"} 119
queryscaler_poll_lag_seconds_bucket{le="+Inf"} 120
`);

describe('prometheus-text', () => {
  it('parses labels and values', () => {
    expect(BEFORE[0]).to.deep.equal({ name: 'queryscaler_kube_api_requests_total', labels: { verb: 'get', resource: 'statefulsets/scale' }, value: 10 });
  });

  it('counter growth by label, summed over the others, only what grew', () => {
    expect(counterGrowth(BEFORE, AFTER, 'queryscaler_kube_api_requests_total', 'verb')).to.deep.equal({ get: 5 });
  });

  it('histogram window: count and the bucket bound holding each quantile', () => {
    const window = histogramWindow(BEFORE, AFTER, 'queryscaler_poll_lag_seconds');
    // 100 observations in the window: 98 <= 1 ms, 1 more <= 10 ms, 1 above.
    expect([window.count, window.upperBound(0.5), window.upperBound(0.98), window.upperBound(0.99), window.upperBound(1)]).to.deep.equal([100, 0.001, 0.001, 0.01, Infinity]);
  });
});
