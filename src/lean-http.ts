/**
 * Node's http module offers WebSocket, CloseEvent and MessageEvent (from the undici bundled in Node) as
 * lazy getters, but an ESM `import … from 'node:http'` reads every export when it is linked, so the first
 * one compiles that whole bundle (~750 KB of JavaScript: ~3 MB of RSS, ~1 MB of it live heap, in the
 * daemon) for classes zdd never takes from there. Removes the three; it helps only when it runs before
 * the first module graph that imports node:http is linked (cli/main.ts).
 * globalThis.WebSocket and the undici package are untouched.
 */
export function dropHttpWebSocket(): void {
  const http = process.getBuiltinModule('node:http');
  for (const name of ['WebSocket', 'CloseEvent', 'MessageEvent']) Reflect.deleteProperty(http, name);
}
