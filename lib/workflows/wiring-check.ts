/**
 * Checks an ASL file against its wiring table: the disagreements that would otherwise only show in AWS (a
 * placeholder CloudFormation cannot substitute, a function nothing invokes, a Task that gives up before its function
 * does). Pure: the infra tests run it on the real files and on mutated copies.
 */
import { functionArnPlaceholder, type Workflow } from './types';

interface AslState {
  readonly Type?: string;
  readonly Resource?: unknown;
  readonly Parameters?: { readonly FunctionName?: unknown };
  readonly TimeoutSeconds?: unknown;
  readonly TimeoutSecondsPath?: unknown;
  readonly Branches?: readonly { readonly States?: Record<string, AslState> }[];
  readonly Iterator?: { readonly States?: Record<string, AslState> };
  readonly ItemProcessor?: { readonly States?: Record<string, AslState> };
}

const LAMBDA_INTEGRATION = 'arn:aws:states:::lambda:invoke';

const PLACEHOLDER = /\$\{([A-Za-z0-9_]+)\}/g;

/** Every `${Name}` in an ASL text, in order of first appearance. */
export function aslPlaceholders(aslText: string): string[] {
  return [...new Set([...aslText.matchAll(PLACEHOLDER)].map((m) => m[1]!))];
}

/** Every state, including those nested in Parallel branches and Map processors (names are unique machine-wide). */
function allStates(states: Record<string, AslState> | undefined): [string, AslState][] {
  const out: [string, AslState][] = [];
  for (const [name, state] of Object.entries(states ?? {})) {
    out.push([name, state]);
    for (const branch of state.Branches ?? []) out.push(...allStates(branch.States));
    const inner = state.ItemProcessor ?? state.Iterator;
    if (inner) out.push(...allStates(inner.States));
  }
  return out;
}

/**
 * Every disagreement between `aslText` (the unsubstituted ASL file) and `workflow`'s rows, one sentence each naming
 * the state or row and the fix; empty when they agree. Checks that each placeholder has a row, each row is invoked by
 * at least one Task, and each Task's `TimeoutSeconds` equals its function's timeout (see
 * `WorkflowFunction.timeoutSeconds` for why equal).
 */
export function wiringProblems(workflow: Workflow, aslText: string): string[] {
  const problems: string[] = [];
  const file = workflow.aslFile;
  const rows = new Map(workflow.functions.map((fn) => [functionArnPlaceholder(fn), fn]));
  const placeholders = aslPlaceholders(aslText);
  const declared = new Set(workflow.substitutions ?? []);
  for (const name of placeholders) {
    if (!rows.has(name) && !declared.has(name)) {
      problems.push(`${file}: \${${name}} has no row in the ${workflow.name} wiring table; add one`);
    }
  }

  const invoked = new Set<string>();
  const definition = JSON.parse(aslText) as { States?: Record<string, AslState> };
  for (const [stateName, state] of allStates(definition.States)) {
    if (state.Type !== 'Task' || typeof state.Resource !== 'string') continue;
    // The Lambda service integration names the function in Parameters; the plain form in Resource.
    const integration = state.Resource.startsWith(LAMBDA_INTEGRATION);
    const target = integration ? state.Parameters?.FunctionName : state.Resource;
    const placeholder = typeof target === 'string' ? /^\$\{([A-Za-z0-9_]+)\}$/.exec(target)?.[1] : undefined;
    const fn = placeholder !== undefined ? rows.get(placeholder) : undefined;
    if (!fn) continue;
    invoked.add(functionArnPlaceholder(fn));
    if (state.Resource.endsWith('.waitForTaskToken')) {
      // The wait outlasts the function by design (a person decides); it must still end some day.
      if (state.TimeoutSeconds === undefined && state.TimeoutSecondsPath === undefined) {
        problems.push(
          `${file}: Task ${stateName} waits for a task token with no TimeoutSeconds or TimeoutSecondsPath; ` +
            'set one, or the execution can wait for a year',
        );
      }
      continue;
    }
    if (state.TimeoutSeconds === undefined) {
      problems.push(
        `${file}: Task ${stateName} has no TimeoutSeconds; set it to ${fn.timeoutSeconds}, the timeout of ${fn.id}`,
      );
    } else if (state.TimeoutSeconds !== fn.timeoutSeconds) {
      problems.push(
        `${file}: Task ${stateName} has TimeoutSeconds ${String(state.TimeoutSeconds)} but its function ${fn.id} ` +
          `times out after ${fn.timeoutSeconds} s; make them equal`,
      );
    }
  }

  for (const name of declared) {
    if (!placeholders.includes(name)) {
      problems.push(
        `${workflow.name} wiring table: substitution \${${name}} is not used in ${file}; remove it from substitutions`,
      );
    }
  }

  for (const [placeholder, fn] of rows) {
    if (!invoked.has(placeholder)) {
      const where = placeholders.includes(placeholder) ? 'names it as a Task Resource' : 'uses it';
      problems.push(
        `${workflow.name} wiring table: row ${fn.id} is not wired: no Task in ${file} ${where} ` +
          `(\${${placeholder}}); remove the row or add the Task`,
      );
    }
  }
  return problems;
}
