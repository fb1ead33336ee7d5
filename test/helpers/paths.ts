import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cli = path.join(root, 'dist', 'cli', 'main.js');
export const client = path.join(root, 'native', 'nono-shell');
export const proxyBash = path.join(root, 'proxy-bin', 'bash');
export const proxySh = path.join(root, 'proxy-bin', 'sh');
export const execHelper = path.join(root, 'native', 'nono-landlock-exec');
export const fixtures = path.join(root, 'test', 'fixtures');
