// Paths under HOME that hold credentials: the `deny_credentials` group. Whole directories are
// denied (read and write); the policy issue adds per-file exceptions. Keep the list to things that
// really hold secrets, so that the default policy stays usable.
export const CREDENTIAL_PATHS: readonly string[] = [
  '.ssh',
  '.gnupg',
  '.aws',
  '.azure',
  '.config/gcloud',
  '.kube',
  '.docker',
  '.netrc',
  '.git-credentials',
  '.config/gh',
  '.config/hub',
  '.npmrc',
  '.pypirc',
  '.cargo/credentials',
  '.cargo/credentials.toml',
  '.gem/credentials',
  '.vault-token',
  '.terraform.d/credentials.tfrc.json',
  '.password-store',
  '.local/share/keyrings',
  '.config/op',
];
