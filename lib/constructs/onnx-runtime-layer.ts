import * as fs from 'node:fs';
import * as path from 'node:path';
import { AssetHashType, DockerImage, Stack } from 'aws-cdk-lib';
import { Architecture, Code, LayerVersion, Runtime } from 'aws-cdk-lib/aws-lambda';
import type { ILayerVersion } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

/** Raised when the installed onnxruntime-node package lacks the binaries the layer must carry. */
export class OnnxRuntimeLayerError extends Error {
  override name = 'OnnxRuntimeLayerError';
}

/**
 * Bumped whenever the pruning rules below change, so the custom asset hash changes with the layer's content even
 * though the onnxruntime-node version stays the same.
 */
const LAYOUT_VERSION = 1;

/** Lambda architecture → Node's `process.arch`, the directory name onnxruntime-node uses for its binaries. */
const NODE_ARCH = { x86_64: 'x64', arm64: 'arm64' } as const;

/** Files a runtime `require` never reads: source maps, type declarations, TypeScript sources. */
function isRuntimeFile(name: string): boolean {
  return !(name.endsWith('.map') || name.endsWith('.ts'));
}

function copyFiltered(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    const target = path.join(to, entry.name);
    if (entry.isDirectory()) copyFiltered(source, target);
    else if (entry.isFile() && isRuntimeFile(entry.name)) fs.copyFileSync(source, target);
  }
}

/**
 * Root directory of an installed package. Resolves the package's entry point and walks up to its package.json,
 * because some packages (onnxruntime-common) do not export `./package.json`.
 */
function packageDir(name: string, fromDir?: string): string {
  const entry = require.resolve(name, fromDir ? { paths: [fromDir] } : undefined);
  for (let dir = path.dirname(entry); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (
      fs.existsSync(manifest) &&
      (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: unknown }).name === name
    ) {
      return dir;
    }
  }
  throw new OnnxRuntimeLayerError(`cannot find the package.json of ${name} above ${entry}`);
}

function packageVersion(dir: string): string {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
    version?: unknown;
  };
  if (typeof manifest.version !== 'string') {
    throw new OnnxRuntimeLayerError(`${dir}/package.json has no version`);
  }
  return manifest.version;
}

/**
 * Copies what `require('onnxruntime-node')` needs at run time into `outputDir/nodejs/node_modules`, for one
 * platform only: the npm package ships every platform's binaries (~288 MB), far over Lambda's 250 MB limit.
 * Exported for tests, which check the pruned tree and its size.
 */
export function stageOnnxRuntime(outputDir: string, architecture: keyof typeof NODE_ARCH): void {
  const nodeDir = packageDir('onnxruntime-node');
  const commonDir = packageDir('onnxruntime-common', nodeDir);
  const binaries = path.join(nodeDir, 'bin', 'napi-v6', 'linux', NODE_ARCH[architecture]);
  for (const file of ['libonnxruntime.so.1', 'onnxruntime_binding.node']) {
    if (!fs.existsSync(path.join(binaries, file))) {
      throw new OnnxRuntimeLayerError(
        `onnxruntime-node is missing ${path.join(binaries, file)}; reinstall it with ONNXRUNTIME_NODE_INSTALL=skip`,
      );
    }
  }
  const modules = path.join(outputDir, 'nodejs', 'node_modules');
  const ortTarget = path.join(modules, 'onnxruntime-node');
  fs.mkdirSync(ortTarget, { recursive: true });
  fs.copyFileSync(path.join(nodeDir, 'package.json'), path.join(ortTarget, 'package.json'));
  copyFiltered(path.join(nodeDir, 'dist'), path.join(ortTarget, 'dist'));
  copyFiltered(binaries, path.join(ortTarget, 'bin', 'napi-v6', 'linux', NODE_ARCH[architecture]));
  // onnxruntime-node's other dependencies (adm-zip, global-agent) serve only its install script.
  const commonTarget = path.join(modules, 'onnxruntime-common');
  fs.mkdirSync(commonTarget, { recursive: true });
  fs.copyFileSync(path.join(commonDir, 'package.json'), path.join(commonTarget, 'package.json'));
  copyFiltered(path.join(commonDir, 'dist'), path.join(commonTarget, 'dist'));
}

export interface OnnxRuntimeLayerProps {
  /**
   * Architecture of the native binaries the layer carries; functions using the layer must match it.
   * @default Architecture.X86_64 - ONNX Runtime has crashed on arm64 Lambda (DESIGN.md toolchain facts)
   */
  readonly architecture?: Architecture;
}

/**
 * A Lambda layer with `nodejs/node_modules/onnxruntime-node` (+ `onnxruntime-common`) pruned to one Linux
 * architecture. Built by copying from the local node_modules (CDK local bundling: no Docker). The asset hash derives
 * from the package versions and the architecture, so synthesis does not re-hash ~45 MB of binaries and the layer is
 * only republished when onnxruntime-node changes.
 *
 * Functions mark `onnxruntime-node` external in esbuild and resolve it from `/opt/nodejs/node_modules`.
 */
export class OnnxRuntimeLayer extends Construct {
  /** Returns the stack's one layer for `architecture`, creating it on first use. */
  static of(scope: Construct, architecture: Architecture = Architecture.X86_64): OnnxRuntimeLayer {
    const stack = Stack.of(scope);
    const id = `OnnxRuntimeLayer${architecture === Architecture.ARM_64 ? 'Arm64' : ''}`;
    const existing = stack.node.tryFindChild(id);
    if (existing instanceof OnnxRuntimeLayer) return existing;
    return new OnnxRuntimeLayer(stack, id, { architecture });
  }

  public readonly layer: ILayerVersion;
  public readonly architecture: Architecture;
  /** Installed onnxruntime-node version the layer carries. */
  public readonly onnxRuntimeVersion: string;

  constructor(scope: Construct, id: string, props: OnnxRuntimeLayerProps = {}) {
    super(scope, id);
    this.architecture = props.architecture ?? Architecture.X86_64;
    const archName = this.architecture.name;
    if (archName !== 'x86_64' && archName !== 'arm64') {
      throw new OnnxRuntimeLayerError(
        `OnnxRuntimeLayer: architecture must be x86_64 or arm64, got ${JSON.stringify(archName)}`,
      );
    }
    const nodeDir = packageDir('onnxruntime-node');
    this.onnxRuntimeVersion = packageVersion(nodeDir);
    const commonVersion = packageVersion(packageDir('onnxruntime-common', nodeDir));

    this.layer = new LayerVersion(this, 'Layer', {
      description: `onnxruntime-node ${this.onnxRuntimeVersion} (linux/${NODE_ARCH[archName]} only)`,
      compatibleRuntimes: [Runtime.NODEJS_22_X],
      compatibleArchitectures: [this.architecture],
      code: Code.fromAsset(nodeDir, {
        assetHashType: AssetHashType.CUSTOM,
        assetHash: `onnxruntime-node-${this.onnxRuntimeVersion}-common-${commonVersion}-linux-${NODE_ARCH[archName]}-v${LAYOUT_VERSION}`,
        bundling: {
          // Never pulled: local bundling always succeeds or throws, and Docker is not required.
          image: DockerImage.fromRegistry('none'),
          local: {
            tryBundle(outputDir: string): boolean {
              stageOnnxRuntime(outputDir, archName);
              return true;
            },
          },
        },
      }),
    });
  }
}
