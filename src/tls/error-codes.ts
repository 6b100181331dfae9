// Kept apart from the rest of src/tls so that the CLI can name these codes without loading the ACME stack.
import { tlsFileErrorCodes } from './certificate.ts';
import { tlsSiteErrorCode } from './sites.ts';

/** ZddError codes configure() throws: all problems of zdd.yaml's tls: blocks or the files they name (exit 2). */
export const tlsConfigErrorCodes: readonly string[] = [...tlsFileErrorCodes, tlsSiteErrorCode];
