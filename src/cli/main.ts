#!/usr/bin/env node
// zdd's command line (program.ts), loaded by a dynamic import() once node:http has lost the exports that
// would compile Node's bundled undici in every zdd process (lean-http.ts): with a static import, its
// modules, node:http among them, would be linked before any line here runs.
import { dropHttpWebSocket } from '../lean-http.ts';

dropHttpWebSocket();
await import('./program.ts');
