// The admin listener's modules (and prom-client) are loaded only when admin.http is on: a daemon
// without it does not carry them (docs/performance.md, idle connections).

/** The admin listener's modules, loaded on demand (they bring prom-client). */
export async function loadAdminModules(): Promise<{
  ServerMetrics: typeof import('./metrics.ts').ServerMetrics;
  startAdminListener: typeof import('./admin-listener.ts').startAdminListener;
  checkReadiness: typeof import('./readiness.ts').checkReadiness;
}> {
  const [{ ServerMetrics }, { startAdminListener }, { checkReadiness }] = await Promise.all([
    import('./metrics.ts'),
    import('./admin-listener.ts'),
    import('./readiness.ts'),
  ]);
  return { ServerMetrics, startAdminListener, checkReadiness };
}
