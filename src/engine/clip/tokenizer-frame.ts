/**
 * What every tokenizer kind returns, and the fixed-length frame CLIP's text tower reads:
 * [SOT] + tokens + [EOT], cut to the context with EOT kept last, then padded.
 */

/** CLIP's text context (open_clip and HF use 77 for every released CLIP). */
export const DEFAULT_CONTEXT = 77;

export interface EncodeResult {
  /** Exactly `context` ids. */
  ids: number[];
  /** True when the text had more tokens than fit: callers should tell the user it was cut. */
  truncated: boolean;
}

export interface Tokenizer {
  /** 'clip-bpe' or 'word'. */
  readonly kind: string;
  /** Number of ids the text tower's embedding table must have. */
  readonly vocabSize: number;
  encode(text: string, context?: number): EncodeResult;
  /** The text of ids (special and padding ids included, as open_clip's decode writes them). */
  decode(ids: readonly number[]): string;
}

export interface FrameIds {
  sot: number;
  eot: number;
  pad: number;
}

export function checkContext(context: number): void {
  if (!Number.isInteger(context) || context < 2) {
    throw new Error(`context length must be an integer of at least 2 (room for start and end tokens), got ${context}`);
  }
}

/**
 * open_clip's rule: when [SOT] + tokens + [EOT] is longer than the context it is cut to the
 * context and its last id is overwritten with EOT, so the tower always finds EOT.
 */
export function frameTokens(tokens: readonly number[], frame: FrameIds, context: number): EncodeResult {
  checkContext(context);
  const ids = [frame.sot, ...tokens, frame.eot];
  const truncated = ids.length > context;
  if (truncated) {
    ids.length = context;
    ids[context - 1] = frame.eot;
  }
  while (ids.length < context) ids.push(frame.pad);
  return { ids, truncated };
}

/** An error for text that has nothing to encode. */
export function emptyTextError(): Error {
  return new Error('the text is empty (only spaces or blank HTML entities): write a few words describing the image');
}
