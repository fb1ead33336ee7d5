// Built-in profiles. Each is a plain profile object, validated by the same schema as user files.
// What each agent needs comes from reference/agents.md (measured with strace); see README
// "Profiles" for what each one grants and what it chose not to.
import type { Profile } from './profile-schema.js';

export const BUILTIN_PROFILES: Record<string, Profile> = {
  default: {
    description: 'Read the system and your home except credentials; write the working directory and a private temp dir; network only through the nono proxy, a question per new host',
    groups: {
      include: [
        'system_read', 'home_read', 'tmp_write', 'deny_credentials', 'deny_shell_history',
        'deny_browser_data', 'deny_keychains', 'deny_shell_configs', 'deny_nono_state',
      ],
    },
    filesystem: { allow: ['$WORKDIR'] },
    network: { block: true },
    agent: { network: { block: false } },
  },
  'claude-code': {
    description: 'Claude Code: its config and state in ~/.claude, its shell snapshots, the Anthropic API',
    extends: 'default',
    // The snapshot shell (a command) writes ~/.claude/shell-snapshots/snapshot-*.sh.
    filesystem: { allow: ['~/.claude/shell-snapshots'] },
    agent: {
      filesystem: {
        allow: ['~/.claude', '~/.local/share/applications'],
        // Rewritten through ~/.claude.json.tmp.* and a lock directory in HOME: creating entries
        // in HOME cannot be allowed without allowing it in ~/.ssh too, so only the file itself is.
        allow_file: ['~/.claude.json', '~/.claude.json.backup'],
        read: ['~/.config/anthropic', '/etc/claude-code'],
      },
      network: { block: false },
    },
  },
  'gemini-cli': {
    description: 'Gemini CLI: its config and state in ~/.gemini, its command ptys, the Gemini API',
    extends: 'default',
    agent: {
      // Gemini runs each command in a pty it opens (node-pty): the agent needs the new pty's
      // /dev/pts/N. Its commands still cannot open other terminals.
      filesystem: { allow: ['~/.gemini', '/dev/pts'] },
      network: { block: false },
    },
  },
  codex: {
    description: "Codex: its home ~/.codex (the commands read its shell snapshots there)",
    extends: 'default',
    agent: {
      filesystem: { allow: ['~/.codex'] },
      network: { block: false },
    },
  },
};
