import { Command, Option } from 'commander';
import { roles, type TokenCreated, type TokenInfo } from '../../api/contract.ts';
import { withClient, withCommonOptions, type CommonOptions } from '../context.ts';
import { dim } from '../format.ts';

// Tokens for the HTTP control listener. Managed on the daemon's machine only, over its Unix socket.

export function tokenCommand(): Command {
  const token = new Command('token').description("tokens for the HTTP control listener (control.listen): remote CLI, CI, Prometheus, the dashboard");
  token.addCommand(
    withCommonOptions(new Command('create'))
      .description('create a token; it is printed once, as the last line of stdout (only a hash of it is kept)')
      .requiredOption('--name <name>', 'what it is for, e.g. ci or prometheus (letters, digits, . _ -)')
      .addOption(new Option('--role <role>', 'deploy: everything; read: status, history, logs, metrics').choices([...roles]).default('deploy'))
      .action(async (o: CommonOptions & { name: string; role: string }) => {
        const t = await withClient(o, (c) => c.call<TokenCreated>('tokenCreate', {}, { body: { name: o.name, role: o.role } }));
        if (o.json) return void process.stdout.write(`${JSON.stringify(t)}\n`);
        process.stderr.write(`created token "${t.name}" (role ${t.role}); it is shown only now. Use it as ZDD_TOKEN (with ZDD_URL) or as Authorization: Bearer <token>\n`);
        process.stdout.write(`${t.token}\n`);
      })
      .exitOverride(),
  );
  token.addCommand(
    withCommonOptions(new Command('list'))
      .description('the tokens: name, role, when created and last used (never the tokens themselves)')
      .action(async (o: CommonOptions) => {
        const { tokens } = await withClient(o, (c) => c.call<{ tokens: TokenInfo[] }>('tokenList', {}));
        if (o.json) return void process.stdout.write(`${JSON.stringify(tokens)}\n`);
        if (tokens.length === 0) return void process.stdout.write(`no tokens; create one with: zdd token create --name NAME\n`);
        const width = Math.max(4, ...tokens.map((t) => t.name.length));
        process.stdout.write(dim(`${'name'.padEnd(width)}  role    created            last used\n`));
        for (const t of tokens) {
          process.stdout.write(`${t.name.padEnd(width)}  ${t.role.padEnd(6)}  ${when(t.createdAt)}  ${t.lastUsedAt === null ? 'never' : when(t.lastUsedAt)}\n`);
        }
      })
      .exitOverride(),
  );
  token.addCommand(
    withCommonOptions(new Command('revoke'))
      .description('revoke a token: requests with it get 401 from now on')
      .argument('<name>', 'the token name')
      .action(async (name: string, o: CommonOptions) => {
        const r = await withClient(o, (c) => c.call<{ revoked: string }>('tokenRevoke', { name }));
        process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `revoked token "${r.revoked}"\n`);
      })
      .exitOverride(),
  );
  return token;
}

function when(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + 'Z';
}
