// The proxy settings' defaults, apart from the schema: the data plane (also a data-plane worker
// process) needs them without loading zod.
export const proxyDefaults = {
  timeout: 60_000,
  connections: 128,
  queueTimeout: 10_000,
  holdTimeout: 5_000,
  headerTimeout: 10_000,
  bodyIdleTimeout: 30_000,
  bodyTimeout: 300_000,
  sendTimeout: 60_000,
  maxConnectionsPerClient: 512,
  trustedNetworks: ['127.0.0.0/8', '::1/128'],
  workers: 'auto' as 'auto' | number,
};
