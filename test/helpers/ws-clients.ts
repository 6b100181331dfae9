import WebSocket from 'ws';

export interface WsReport {
  connections: number;
  messagesEchoed: number;
  /** Close codes seen (1000 normal, 1001 going away are clean; 1006 means the connection just died). */
  closeCodes: Record<number, number>;
  errors: string[];
}

/**
 * WebSocket clients that chat with the echo app, reconnect when the server closes them, and record
 * every close code and error.
 */
export function startWsClients(url: string, count: number): { stop(): Promise<WsReport> } {
  const report: WsReport = { connections: 0, messagesEchoed: 0, closeCodes: {}, errors: [] };
  let stopping = false;
  const sockets = new Set<WebSocket>();
  const open = () => {
    if (stopping) return;
    const ws = new WebSocket(url);
    sockets.add(ws);
    let timer: NodeJS.Timeout | undefined;
    ws.on('open', () => {
      report.connections++;
      timer = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send('ping'), 50);
    });
    ws.on('message', (data) => {
      if (data.toString() === 'ping') report.messagesEchoed++;
    });
    ws.on('error', (err) => report.errors.push(err.message));
    ws.on('close', (code) => {
      clearInterval(timer);
      sockets.delete(ws);
      report.closeCodes[code] = (report.closeCodes[code] ?? 0) + 1;
      if (!stopping) open();
    });
  };
  for (let i = 0; i < count; i++) open();
  return {
    async stop() {
      stopping = true;
      await Promise.all(
        [...sockets].map(
          (ws) =>
            new Promise<void>((resolve) => {
              ws.once('close', () => resolve());
              ws.close(1000);
            }),
        ),
      );
      return report;
    },
  };
}
