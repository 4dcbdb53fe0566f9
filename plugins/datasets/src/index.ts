import { definePlugin, type Plugin } from '@leantune/core';
import { PLUGIN_NAME, type LoaderDeps } from './common';
import { brownLoader } from './loaders/brown';
import { fashionMnistLoader } from './loaders/fashion-mnist';
import { fileLoader } from './loaders/files';
import { mnistLoader } from './loaders/mnist';
import { spamAssassinLoader } from './loaders/spam-assassin';
import { resolveInstalledPackage, type PackageResolver } from './packages';
import { splitStage } from './split-stage';
import { classesStage } from './classes-stage';

export interface DatasetsPluginOptions {
  /** Folder that relative dataset paths resolve from (default: the working directory). */
  baseDir?: string;
}

/** Test seam: swap how dataset packages are found, e.g. to simulate one not installed. */
export interface DatasetsPluginDeps {
  resolvePackage?: PackageResolver;
}

export function createDatasetsPlugin(deps: DatasetsPluginDeps = {}): Plugin<DatasetsPluginOptions> {
  return definePlugin<DatasetsPluginOptions>({
    meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'Dataset loaders (SpamAssassin, Brown, MNIST, Fashion-MNIST, JSONL/CSV/IDX/image folders), the split stage and the classes stage' },
    optionsSchema: {
      type: 'object',
      additionalProperties: false,
      properties: { baseDir: { type: 'string', description: "Folder relative dataset paths resolve from; default the working directory" } },
    },
    apply(ctx) {
      const loaderDeps: LoaderDeps = { resolvePackage: deps.resolvePackage ?? resolveInstalledPackage, baseDir: ctx.options.baseDir };
      for (const make of [spamAssassinLoader, brownLoader, mnistLoader, fashionMnistLoader, fileLoader]) ctx.datasets.register(make(loaderDeps));
      ctx.stages.register(splitStage);
      ctx.stages.register(classesStage);
    },
  });
}

export default createDatasetsPlugin();

export { PLUGIN_NAME, resolveDataPath, limitPerClass } from './common';
export { MissingDatasetPackageError, packageDir, resolveInstalledPackage, type PackageResolver } from './packages';
export { emailText } from './email';
export { splitStage, splitOptionsSchema, type SplitOptions } from './split-stage';
export { classesStage, classesOptionsSchema, type ClassesOptions } from './classes-stage';
export { spamLabel, SPAM_ASSASSIN_PACKAGE } from './loaders/spam-assassin';
export { untagSentence, BROWN_PACKAGE } from './loaders/brown';
export { DIGITS, MNIST_PACKAGE } from './loaders/mnist';
export { FASHION_LABELS, FASHION_MNIST_DIR, FASHION_MNIST_APT } from './loaders/fashion-mnist';
export { FILE_FORMATS } from './loaders/files';
