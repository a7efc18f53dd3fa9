import type { Command } from 'commander';
import { loadTokenizer, tokenizerSpecFromFile, type Tokenizer } from '../engine/clip/tokenizer.js';
import { ClipModel, cosine, normalize } from '../engine/pack/model.js';
import { DEVICES } from '../engine/runtime.js';
import { deviceOf } from './device.js';
import { UsageError, fail } from './errors.js';
import { resolveModelDir } from './model-dir.js';

async function openModel(o: { model?: string; device?: string }): Promise<ClipModel> {
  return ClipModel.open(resolveModelDir(o.model), { device: deviceOf(o.device) });
}

interface EmbedArgs { text?: string; image?: string; model?: string; device?: string; json?: boolean }

async function runEmbed(o: EmbedArgs): Promise<void> {
  if ((o.text === undefined) === (o.image === undefined)) throw new UsageError('give exactly one of --text or --image');
  const model = await openModel(o);
  try {
    const e = o.text !== undefined ? await model.embedTexts([o.text]) : await model.embedImageFile(o.image!);
    const embedding = Array.from(e.data as Float32Array);
    const normalized = normalize(embedding);
    if (o.json) {
      process.stdout.write(`${JSON.stringify({ embedding, normalized })}\n`);
    } else {
      const norm = Math.hypot(...embedding);
      process.stdout.write(`${embedding.length}-d embedding, norm ${norm.toFixed(4)}: [${embedding.slice(0, 6).map((x) => x.toFixed(4)).join(', ')}, …]\n`);
    }
  } finally {
    await model.close();
  }
}

interface ScoreArgs { image: string; text: string; model?: string; device?: string; json?: boolean }

async function runScore(o: ScoreArgs): Promise<void> {
  const model = await openModel(o);
  try {
    const [img, txt] = [await model.embedImageFile(o.image), await model.embedTexts([o.text])];
    const cos = cosine(img.data as Float32Array, txt.data as Float32Array);
    const logit = model.logitScale * cos;
    if (o.json) {
      process.stdout.write(`${JSON.stringify({ cosine: cos, logit, logitScale: model.logitScale })}\n`);
    } else {
      process.stdout.write(`cosine ${cos.toFixed(4)}  logit ${logit.toFixed(3)} (scale ${model.logitScale.toFixed(2)})\n`);
    }
  } finally {
    await model.close();
  }
}

interface TokenizeArgs { model?: string; tokenizer?: string; context?: string; json?: boolean }

async function runTokenize(text: string, o: TokenizeArgs): Promise<void> {
  let tok: Tokenizer;
  let context = 77;
  if (o.tokenizer) {
    tok = await loadTokenizer(tokenizerSpecFromFile(o.tokenizer), '.');
  } else {
    const model = await ClipModel.open(resolveModelDir(o.model));
    try {
      tok = await model.tokenizer();
      context = model.config.text.contextLength;
    } finally {
      await model.close();
    }
  }
  if (o.context !== undefined) {
    context = Number(o.context);
    if (!Number.isInteger(context) || context < 2) throw new UsageError(`--context ${o.context}: expected an integer of at least 2`);
  }
  const { ids, truncated } = tok.encode(text, context);
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ ids, truncated })}\n`);
  } else {
    const used = ids.length - [...ids].reverse().findIndex((x) => x !== 0);
    process.stdout.write(`${ids.slice(0, used).join(' ')}${truncated ? '  (truncated)' : ''}\n`);
  }
}

export function registerEmbed(program: Command): void {
  program
    .command('embed')
    .description("print the model's embedding of a text or an image")
    .option('--text <text>', 'a text to embed')
    .option('--image <file>', 'an image file to embed (PNG, JPEG, WebP…)')
    .option('--model <dir>', 'model pack (default: $MODEL_DIR, else the bundled demo model)')
    .option('--device <name>', `where to run: ${DEVICES.join(', ')}`)
    .option('--json', 'print {"embedding": [...], "normalized": [...]} on stdout')
    .action(async (o: EmbedArgs) => {
      try {
        await runEmbed(o);
      } catch (e) {
        fail('embed', e);
      }
    });

  program
    .command('score')
    .description("how well a text describes an image: CLIP's cosine similarity and scaled logit")
    .requiredOption('--image <file>', 'the image file')
    .requiredOption('--text <text>', 'the text')
    .option('--model <dir>', 'model pack (default: $MODEL_DIR, else the bundled demo model)')
    .option('--device <name>', `where to run: ${DEVICES.join(', ')}`)
    .option('--json', 'print {"cosine", "logit", "logitScale"} on stdout')
    .action(async (o: ScoreArgs) => {
      try {
        await runScore(o);
      } catch (e) {
        fail('score', e);
      }
    });

  program
    .command('tokenize')
    .description('print the token ids the model reads for a text')
    .argument('<text>', 'the text')
    .option('--model <dir>', 'model pack whose tokenizer to use (default: $MODEL_DIR, else the bundled demo model)')
    .option('--tokenizer <file>', 'a tokenizer file instead of a pack (bpe_simple_vocab_16e6.txt.gz, tokenizer.json, merges.txt)')
    .option('--context <n>', 'context length (default: the model\'s, 77)')
    .option('--json', 'print {"ids": [...]} on stdout')
    .action(async (text: string, o: TokenizeArgs) => {
      try {
        await runTokenize(text, o);
      } catch (e) {
        fail('tokenize', e);
      }
    });
}
