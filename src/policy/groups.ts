// Built-in policy groups: named sets of grants and denials that profiles include. Contents are
// per platform; paths may use ~ and $TMPDIR like profile entries.
import type { FilesystemSection } from './profile-schema.js';

export interface PolicyGroup {
  description: string;
  filesystem: FilesystemSection;
  /** Devices opened read-write (only system_read has them). */
  devices?: string[];
  /** Hosts reachable through the session proxy (the net_* groups); opt-in per profile. */
  allowDomains?: string[];
}

export type Platform = 'linux' | 'darwin';

const CREDENTIALS = [
  '~/.ssh', '~/.gnupg', '~/.aws', '~/.azure', '~/.config/gcloud', '~/.kube', '~/.docker',
  '~/.netrc', '~/.git-credentials', '~/.config/gh', '~/.config/hub', '~/.npmrc', '~/.pypirc',
  '~/.cargo/credentials', '~/.cargo/credentials.toml', '~/.gem/credentials', '~/.vault-token',
  '~/.terraform.d/credentials.tfrc.json', '~/.password-store', '~/.local/share/keyrings', '~/.config/op',
];

const SHELL_HISTORY = [
  '~/.bash_history', '~/.zsh_history', '~/.zhistory', '~/.histfile', '~/.sh_history',
  '~/.local/share/fish/fish_history', '~/.python_history', '~/.node_repl_history',
  '~/.psql_history', '~/.mysql_history', '~/.sqlite_history', '~/.lesshst', '~/.rediscli_history',
];

const BROWSER_DATA: Record<Platform, string[]> = {
  linux: [
    '~/.mozilla', '~/.config/google-chrome', '~/.config/chromium', '~/.config/BraveSoftware',
    '~/.config/microsoft-edge', '~/.config/vivaldi', '~/.config/opera', '~/.var/app/org.mozilla.firefox',
    '~/.var/app/com.google.Chrome', '~/snap/firefox', '~/snap/chromium',
  ],
  darwin: [
    '~/Library/Application Support/Google/Chrome', '~/Library/Application Support/Chromium',
    '~/Library/Application Support/Firefox', '~/Library/Application Support/BraveSoftware',
    '~/Library/Application Support/Microsoft Edge', '~/Library/Application Support/Arc',
    '~/Library/Safari', '~/Library/Cookies', '~/Library/Containers/com.apple.Safari',
  ],
};

// Files a shell runs at start: writing them is how code persists beyond the sandbox.
const SHELL_CONFIGS = [
  '~/.bashrc', '~/.bash_profile', '~/.bash_login', '~/.bash_logout', '~/.profile', '~/.zshrc',
  '~/.zprofile', '~/.zshenv', '~/.zlogin', '~/.zlogout', '~/.config/fish', '~/.inputrc',
];

const SYSTEM_READ: Record<Platform, string[]> = {
  linux: ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc', '/opt', '/proc', '/sys', '/dev', '/run', '/var/lib', '/var/cache', '/snap', '/nix'],
  darwin: ['/usr', '/bin', '/sbin', '/System', '/Library', '/Applications', '/opt', '/private/etc', '/etc', '/dev', '/private/var/db/timezone', '/var/db/timezone', '/nix'],
};

const DEVICES: Record<Platform, string[]> = {
  // Not /dev/pts: that would open every terminal of the user (another pane's keystrokes) by
  // path. A command uses the terminal it was given as stdio, and new ptys from /dev/ptmx.
  linux: ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty', '/dev/ptmx', '/dev/shm'],
  darwin: ['/dev/null', '/dev/zero', '/dev/random', '/dev/urandom', '/dev/tty', '/dev/ptmx', '/dev/dtracehelper'],
};

export function builtinGroups(platform: Platform = process.platform === 'darwin' ? 'darwin' : 'linux'): Record<string, PolicyGroup> {
  return {
    system_read: {
      description: 'What a shell needs to run: system binaries, libraries, /etc, /proc, devices',
      // Other terminals of the user (/dev/pts/N) are not readable either: reading one steals what
      // is typed there. A command keeps the terminal it was given as stdio.
      filesystem: { read: SYSTEM_READ[platform], deny: platform === 'linux' ? ['/dev/pts'] : [] },
      devices: DEVICES[platform],
    },
    home_read: { description: 'Read your home directory (the deny_* groups carve out of it)', filesystem: { read: ['~'] } },
    tmp_write: { description: "Read and write the session's private temp dir ($TMPDIR)", filesystem: { allow: ['$TMPDIR'] } },
    deny_credentials: { description: 'SSH, GPG, cloud, registry and password-store credentials', filesystem: { deny: CREDENTIALS } },
    deny_shell_history: { description: 'Shell and REPL history files', filesystem: { deny: SHELL_HISTORY } },
    deny_browser_data: { description: 'Browser profiles: cookies, saved passwords, sessions', filesystem: { deny: BROWSER_DATA[platform] } },
    deny_keychains: {
      description: 'macOS keychains (no effect on Linux)',
      filesystem: { deny: platform === 'darwin' ? ['~/Library/Keychains', '/Library/Keychains', '/Network/Library/Keychains'] : [] },
    },
    deny_shell_configs: { description: 'Shell start-up files stay readable but cannot be changed', filesystem: { deny_write: SHELL_CONFIGS } },
    // Package registries and code hosts, for commands that install and fetch: none is included by
    // default; a profile opts in with "groups": {"include": ["net_npm"]}.
    net_npm: { description: 'The npm registry (npm, yarn, pnpm installs)', filesystem: {}, allowDomains: ['registry.npmjs.org', 'registry.yarnpkg.com'] },
    net_pypi: { description: 'PyPI (pip, uv, poetry installs)', filesystem: {}, allowDomains: ['pypi.org', 'files.pythonhosted.org'] },
    net_crates: { description: 'crates.io (cargo)', filesystem: {}, allowDomains: ['crates.io', 'index.crates.io', 'static.crates.io'] },
    net_go: { description: 'The Go module proxy and checksum database', filesystem: {}, allowDomains: ['proxy.golang.org', 'sum.golang.org'] },
    net_github: {
      description: 'GitHub over HTTPS (git fetch/clone, the API, release and raw downloads)',
      filesystem: {},
      allowDomains: ['github.com', 'api.github.com', 'codeload.github.com', '*.githubusercontent.com'],
    },
    deny_nono_state: {
      description: "nono's own profiles, approvals and audit log stay readable but cannot be changed by commands",
      filesystem: { deny_write: ['~/.config/nono', '~/.local/state/nono'] },
    },
  };
}
