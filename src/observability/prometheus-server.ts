// queryscaler's own Prometheus endpoint (/metrics): the families of prometheus-metrics.ts.
import http from 'node:http';
import type { QueryscalerMetrics } from './prometheus-metrics.js';

export interface PrometheusServer {
  port: number;
  close(): Promise<void>;
}

export async function startPrometheusServer(metrics: QueryscalerMetrics, host: string, port: number): Promise<PrometheusServer> {
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      metrics
        .exposition()
        .then((body) => {
          res.writeHead(200, { 'content-type': metrics.contentType });
          res.end(body);
        })
        .catch((error: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(error instanceof Error ? error.message : 'metrics collection failed');
        });
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
