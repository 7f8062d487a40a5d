/**
 * The completion generator (cli/completion.ts): scripts built from the commander program, so every command and
 * option of `modelops` completes, choices complete as values, and only path-valued options complete file names.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Argument, Command, Option } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { completionModel, completionScript } from '../../cli/completion';
import { buildProgram, runCli } from '../../cli/index';

const noIo = { out: () => undefined, err: () => undefined };

function tiny(): Command {
  const program = new Command('tool');
  program
    .command('route')
    .description("Route traffic. Second sentence isn't shown.")
    .addOption(new Option('--mode <mode>', 'canary or shadow').choices(['canary', 'shadow']))
    .addOption(new Option('--file <instances.json>', 'input file'))
    .addOption(new Option('--weight <0-1>', 'share'))
    .addOption(new Option('--clear', 'remove: the candidate [all]'));
  program.command('completion').addArgument(new Argument('<shell>').choices(['bash', 'zsh']));
  return program;
}

const dir = mkdtempSync(path.join(tmpdir(), 'modelops-completion-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the bash script's completion function for `words` (the last one being completed). */
function bashComplete(script: string, words: readonly string[]): string[] {
  const file = path.join(dir, 'c.bash');
  writeFileSync(file, script);
  const quoted = words.map((w) => `'${w}'`).join(' ');
  const out = execFileSync(
    'bash',
    [
      '-c',
      `source ${file}; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; ` +
        `_${words[0]}_completion; printf '%s\\n' "\${COMPREPLY[@]}"`,
    ],
    { cwd: dir, encoding: 'utf8' },
  );
  return out.split('\n').filter((l) => l !== '');
}

describe('completionModel', () => {
  it('lists every command with its options, choices and whether a value is a path', () => {
    const model = completionModel(tiny());
    expect(model.map((c) => c.name)).toEqual(['route', 'completion']);
    const route = model[0]!;
    expect(route.description).toBe('Route traffic.');
    expect(route.options.find((o) => o.flags.includes('--mode'))).toMatchObject({
      takesValue: true,
      choices: ['canary', 'shadow'],
      valueIsPath: false,
    });
    expect(route.options.find((o) => o.flags.includes('--file'))).toMatchObject({ valueIsPath: true });
    expect(route.options.find((o) => o.flags.includes('--clear'))).toMatchObject({ takesValue: false });
    expect(route.options.at(-1)!.flags).toEqual(['--help', '-h']);
    expect(model[1]!.argumentChoices).toEqual(['bash', 'zsh']);
  });

  it('covers every command and flag of the modelops program', () => {
    const program = buildProgram(noIo, () => undefined);
    const model = completionModel(program);
    expect(model.map((c) => c.name)).toEqual(program.commands.map((c) => c.name()));
    for (const name of ['history', 'diff', 'completion', 'status', 'validate']) {
      expect(model.map((c) => c.name)).toContain(name);
    }
    for (const name of ['status', 'validate', 'history', 'diff']) {
      expect(model.find((c) => c.name === name)!.options.flatMap((o) => o.flags)).toContain('--json');
    }
  });
});

describe('bash script', () => {
  const script = completionScript(tiny(), 'bash');

  it('is valid bash', () => {
    expect(() => execFileSync('bash', ['-n'], { input: script })).not.toThrow();
  });

  it('completes commands, flags, option choices and argument choices', () => {
    expect(bashComplete(script, ['tool', 'ro'])).toEqual(['route']);
    expect(bashComplete(script, ['tool', 'route', '--m'])).toEqual(['--mode']);
    expect(bashComplete(script, ['tool', 'route', '--mode', 'sh'])).toEqual(['shadow']);
    expect(bashComplete(script, ['tool', 'completion', ''])).toEqual(['bash', 'zsh']);
  });

  it('completes file names for path values only', () => {
    writeFileSync(path.join(dir, 'instances.json'), '[]');
    expect(bashComplete(script, ['tool', 'route', '--file', 'inst'])).toEqual(['instances.json']);
    expect(bashComplete(script, ['tool', 'route', '--weight', 'inst'])).toEqual([]);
  });
});

describe('zsh script', () => {
  const script = completionScript(tiny(), 'zsh');

  it('declares the completion function, commands with descriptions and option specs', () => {
    expect(script.startsWith('#compdef tool\n')).toBe(true);
    expect(script).toContain("'route:Route traffic.'");
    expect(script).toContain("'--mode[canary or shadow]:value:(canary shadow)'");
    expect(script).toContain("'--file[input file]:value:_files'");
    // Brackets and colons would end a spec early; they are blanked in descriptions.
    expect(script).toContain("'--clear[remove  the candidate  all ]'");
    expect(script).toContain("'1:arg:(bash zsh)'");
    expect(script).toContain('compdef _tool tool');
  });
});

describe('modelops completion', () => {
  it('prints the script for bash and zsh (exit 0)', async () => {
    for (const shell of ['bash', 'zsh']) {
      const out: string[] = [];
      const code = await runCli(['completion', shell], { out: (l) => out.push(l), err: () => undefined });
      expect(code).toBe(0);
      expect(out.join('\n')).toContain('history');
    }
  });

  it('fails with exit 2 naming the argument and its choices for an unknown shell', async () => {
    const err: string[] = [];
    const code = await runCli(['completion', 'fish'], { out: () => undefined, err: (l) => err.push(l) });
    expect(code).toBe(2);
    expect(err.join('\n')).toMatch(/shell.*bash, zsh/);
  });
});
