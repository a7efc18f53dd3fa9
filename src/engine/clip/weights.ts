/**
 * The one interface every weight file reader presents (safetensors, PyTorch zip checkpoints, name
 * layout views over them): a listing that costs no tensor bytes, then tensors read one at a time.
 * Import streams through it, so a 1.3 GB training checkpoint never sits in memory whole.
 */
import type { DType, Tensor } from '../onnx/tensor.js';

export interface TensorInfo {
  readonly name: string;
  /** The element type as stored in the file (float16 stays float16 here). */
  readonly dtype: DType;
  readonly shape: readonly number[];
  /**
   * A state the model keeps but does not learn by gradient (a BatchNorm's running mean and
   * variance): training leaves it out of weight decay and of the optimiser, and updates it apart.
   */
  readonly buffer?: boolean;
}

export interface ReadTensorOptions {
  /** Return float16 data as stored (raw float16) instead of converting it to float32. */
  readonly keepF16?: boolean;
}

export interface WeightReader {
  /** The file (or folder) the tensors come from, for messages. */
  readonly path: string;
  /** Every tensor, in file order, read from headers only. */
  list(): readonly TensorInfo[];
  /**
   * One tensor's data: float types become float32 (float16 stays float16 with keepF16), integer
   * types keep their type. Throws naming the file and the tensor when it is missing or unreadable.
   */
  read(name: string, opts?: ReadTensorOptions): Promise<Tensor>;
  /** Releases file handles; reading after close is an error. */
  close(): Promise<void>;
}
