// The profile file format, defined once with zod: validated on load (errors name the file, the
// field path and the reason) and exported as JSON Schema for editors (`nono profile schema`).
import { z } from 'zod';
import { parseHostPattern } from './host-pattern.js';

const pathList = z
  .array(z.string().min(1, 'must not be empty'))
  .describe('Paths; may start with ~, $HOME, $WORKDIR or $TMPDIR');

export const filesystemSchema = z
  .strictObject({
    allow: pathList.optional().describe('Directories commands may read and write'),
    read: pathList.optional().describe('Directories commands may read'),
    write: pathList.optional().describe('Directories commands may write but not read'),
    allow_file: pathList.optional().describe('Single files commands may read and write'),
    read_file: pathList.optional().describe('Single files commands may read (may re-allow a file inside a denied directory)'),
    write_file: pathList.optional().describe('Single files commands may write'),
    deny: pathList.optional().describe('Paths nothing may read or write, even inside a granted directory'),
    deny_write: pathList.optional().describe('Paths that stay readable but may not be written, created, renamed or deleted'),
  })
  .describe('Filesystem access');

const port = z.number().int().min(1).max(65535);

/** Host patterns (host-pattern.ts): the same grammar as --allow-domain and the proxy use. */
const hostList = z.array(
  z.string().superRefine((value, ctx) => {
    try {
      parseHostPattern(value);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
    }
  }),
);

export const networkSchema = z
  .strictObject({
    block: z.boolean().optional().describe('Block TCP connect and bind (except the ports below)'),
    allow_tcp_connect: z.array(port).optional().describe('TCP ports commands may connect to even when blocked'),
    allow_tcp_bind: z.array(port).optional().describe('TCP ports commands may listen on even when blocked'),
    allow_domains: hostList
      .optional()
      .describe('Hosts commands may reach through the session proxy: name, *.domain, IP, optionally :PORT'),
    deny_domains: hostList.optional().describe('Hosts never reached through the proxy, even if allowed or asked about (deny wins)'),
  })
  .describe('Network access');

export const groupsSchema = z
  .strictObject({
    include: z.array(z.string()).optional().describe('Built-in groups to add'),
    exclude: z.array(z.string()).optional().describe('Groups inherited through extends to remove'),
  })
  .describe('Policy groups (see `nono profile groups`)');

export const profileSchema = z
  .strictObject({
    $schema: z.string().optional(),
    description: z.string().optional(),
    extends: z
      .union([z.string(), z.array(z.string())])
      .optional()
      .describe('Profiles this one builds on (built-in names, user profile names, or files)'),
    groups: groupsSchema.optional(),
    filesystem: filesystemSchema.optional(),
    network: networkSchema.optional(),
    agent: z
      .strictObject({
        filesystem: filesystemSchema.optional(),
        network: networkSchema.optional(),
      })
      .optional()
      .describe("What the agent process itself may do beyond its commands (its own config and state, its network)"),
    environment: z
      .strictObject({
        scrub: z
          .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*\*?$/, 'a variable name, or a prefix ending in *'))
          .optional()
          .describe('Variables removed from every command (NAME or PREFIX*)'),
      })
      .optional(),
  })
  .describe('A nono profile');

export type Profile = z.infer<typeof profileSchema>;
export type FilesystemSection = z.infer<typeof filesystemSchema>;
export type NetworkSection = z.infer<typeof networkSchema>;

export function profileJsonSchema(): unknown {
  return z.toJSONSchema(profileSchema, { target: 'draft-2020-12' });
}
