import fs from 'node:fs';
import path from 'node:path';

/**
 * Weight formats other than safetensors. leantune never opens them (no unpickling, no
 * parsing): it names them and prints the one-off conversion with transformers.
 */
const OTHER_FORMATS: Array<[file: RegExp, what: string, from: (file: string) => string]> = [
  [/^pytorch_model(-\d+-of-\d+)?\.bin(\.index\.json)?$/, 'PyTorch pickle weights', () => ''],
  [/^model(-\d+-of-\d+)?\.bin$/, 'PyTorch pickle weights', () => ''],
  [/^tf_model\.h5$/, 'TensorFlow (Keras h5) weights', () => ', from_tf=True'],
  [/^flax_model\.msgpack$/, 'Flax weights', () => ', from_flax=True'],
  [/\.gguf$/i, 'GGUF (llama.cpp) weights', (f) => `, gguf_file=${JSON.stringify(f).replace(/"/g, "'")}`],
];

/** The class to convert with: config.json's architectures[0] (keeps the head), else AutoModel. */
function modelClass(dir: string): string {
  try {
    const archs = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).architectures;
    if (Array.isArray(archs) && typeof archs[0] === 'string' && /^[A-Za-z_]\w*$/.test(archs[0])) return archs[0];
  } catch {
    // no or unreadable config.json: AutoModel
  }
  return 'AutoModel';
}

/** The python one-liner that writes `<dir>-safetensors` from the weights in `dir`. */
export function conversionCommand(dir: string, from = ''): string {
  const cls = modelClass(dir);
  const q = (p: string) => `'${p.replace(/\\/g, '/').replace(/'/g, "\\'")}'`;
  return `python -c "from transformers import ${cls}; ${cls}.from_pretrained(${q(dir)}${from}).save_pretrained(${q(`${dir}-safetensors`)}, safe_serialization=True)"`;
}

/**
 * An error for a folder (or file) that holds only other weight formats, with the conversion
 * path; undefined when there are none. Only names are read (readdir), never the files.
 */
export function otherFormatError(target: string): Error | undefined {
  let dir = target;
  let files: string[];
  try {
    if (fs.statSync(target).isFile()) {
      dir = path.dirname(target);
      files = [path.basename(target)];
    } else files = fs.readdirSync(target);
  } catch {
    return undefined;
  }
  for (const [re, what, from] of OTHER_FORMATS) {
    const found = files.filter((f) => re.test(f)).sort();
    if (!found.length) continue;
    return new Error(
      `${path.join(dir, found[0])}: ${what} (${found.join(', ')}) cannot be loaded; leantune reads safetensors only (model.safetensors or ` +
        `model.safetensors.index.json with its shards) and never unpickles or parses other formats. Convert once with transformers:\n  ${conversionCommand(dir, from(found[0]))}\n` +
        `then copy tokenizer.json / preprocessor_config.json into ${dir}-safetensors if they are not there, and load that folder.`,
    );
  }
  return undefined;
}
