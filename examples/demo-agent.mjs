// The default job of `npm start`: a stand-in agent that starts shell commands the way real agents
// do, under `nono run`. Each command is routed to nono-shell and sandboxed; the table shows what
// the sandbox allowed and refused. Nothing here needs network access or an API key.
import { spawnSync } from 'node:child_process';
import os from 'node:os';

const home = os.homedir();
const attempts = [
  ['write a file in the project', 'echo hello > .nono-demo.txt && cat .nono-demo.txt && rm .nono-demo.txt'],
  ['read a system file', 'head -c 40 /etc/os-release'],
  ['list ~/.ssh (credentials)', `ls ${home}/.ssh`],
  ['read ~/.bashrc (home is readable)', `head -c 40 ${home}/.bashrc`],
  ['read ~/.aws/credentials', `cat ${home}/.aws/credentials`],
  ['write in HOME outside the project', `echo x > ${home}/.nono-demo-escape`],
  ['open a TCP connection (1.1.1.1:80)', 'exec 3<>/dev/tcp/1.1.1.1/80'],
];

console.log(`demo agent: running ${attempts.length} shell commands the way an agent does (spawn bash -c ...)\n`);
for (const [what, cmd] of attempts) {
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8', timeout: 10_000 });
  // The reason matters: "Permission denied" is the sandbox; "No such file" means there was
  // nothing there to protect on this machine.
  const verdict = r.status === 0 ? 'ok' : 'failed';
  const detail = (r.status === 0 ? r.stdout : r.stderr).trim().split('\n')[0] ?? '';
  console.log(`${verdict.padEnd(8)} ${what.padEnd(38)} ${detail.slice(0, 70)}`);
}
console.log('\nEach line above ran in its own Landlock sandbox (see the nono: lines for what the supervisor saw).');
