import type { Attr, Dim, Graph, Model, Node, ValueInfo } from './ir.js';
import { defaultOpset } from './ir.js';
import { Tensor, type DType, ONNX_DTYPE } from './tensor.js';
import type { Meta } from './types.js';
import { opDef } from './registry.js';
import { topoSort } from './topo.js';
import { withSymbolicValue } from './symbolic.js';

export type AttrInput = Attr | number | number[] | string;

/** Attribute helpers: ONNX distinguishes int from float attributes, JS numbers do not. */
export const A = {
  int: (value: number): Attr => ({ kind: 'int', value }),
  float: (value: number): Attr => ({ kind: 'float', value }),
  ints: (value: number[]): Attr => ({ kind: 'ints', value }),
  floats: (value: number[]): Attr => ({ kind: 'floats', value }),
  string: (value: string): Attr => ({ kind: 'string', value }),
};

function toAttr(a: AttrInput): Attr {
  if (typeof a === 'string') return A.string(a);
  if (typeof a === 'number') return Number.isInteger(a) ? A.int(a) : A.float(a);
  if (Array.isArray(a)) return A.ints(a);
  return a;
}

export const fmtShape = (s: Dim[] | null): string => (s === null ? '[?]' : `[${s.map((d) => d ?? '?').join(',')}]`);

/** A named value in a graph under construction, with arithmetic that emits ONNX nodes. */
export class Value {
  constructor(readonly b: GraphBuilder, readonly name: string, readonly meta: Meta) {}

  get dtype(): DType { return this.meta.dtype; }
  /** The shape; throws when the rank is unknown, which rules and builders cannot work with. */
  get shape(): Dim[] {
    if (this.meta.shape === null) throw new Error(`value ${this.name} has an unknown rank`);
    return this.meta.shape;
  }
  get rank(): number { return this.shape.length; }
  /** Fully static dims, or throws naming the value. */
  get dims(): number[] {
    const s = this.shape;
    if (!s.every((d): d is number => typeof d === 'number')) {
      throw new Error(`value ${this.name} has a dynamic shape ${fmtShape(s)} where a static one is needed`);
    }
    return s;
  }
  get isStatic(): boolean { return this.meta.shape !== null && this.meta.shape.every((d) => typeof d === 'number'); }
  /** Known contents (constants and folded shape arithmetic), if any. */
  get known(): Tensor | undefined { return this.meta.value; }

  private lift(o: Value | number): Value { return typeof o === 'number' ? this.b.scalar(o, this.dtype) : o; }
  add(o: Value | number): Value { return this.b.op1('Add', [this, this.lift(o)]); }
  sub(o: Value | number): Value { return this.b.op1('Sub', [this, this.lift(o)]); }
  mul(o: Value | number): Value { return this.b.op1('Mul', [this, this.lift(o)]); }
  div(o: Value | number): Value { return this.b.op1('Div', [this, this.lift(o)]); }
  pow(o: Value | number): Value { return this.b.op1('Pow', [this, this.lift(o)]); }
  neg(): Value { return this.b.op1('Neg', [this]); }
  matmul(o: Value): Value { return this.b.op1('MatMul', [this, o]); }
  exp(): Value { return this.b.op1('Exp', [this]); }
  log(): Value { return this.b.op1('Log', [this]); }
  sqrt(): Value { return this.b.op1('Sqrt', [this]); }
  reciprocal(): Value { return this.b.op1('Reciprocal', [this]); }
  tanh(): Value { return this.b.op1('Tanh', [this]); }
  erf(): Value { return this.b.op1('Erf', [this]); }
  sigmoid(): Value { return this.b.op1('Sigmoid', [this]); }
  abs(): Value { return this.b.op1('Abs', [this]); }
  relu(): Value { return this.b.op1('Relu', [this]); }
  cast(to: DType): Value { return this.b.cast(this, to); }
  reshape(shape: number[] | Value): Value {
    return this.b.op1('Reshape', [this, Array.isArray(shape) ? this.b.constInt64(shape) : shape]);
  }
  transpose(perm?: number[]): Value {
    return this.b.op1('Transpose', [this], perm ? { perm: A.ints(perm) } : {});
  }
  /** ReduceSum over axes (all axes when omitted). */
  sum(axes?: number[], keepdims = false): Value { return this.b.reduce('ReduceSum', this, axes, keepdims); }
  mean(axes?: number[], keepdims = false): Value { return this.b.reduce('ReduceMean', this, axes, keepdims); }
  softmax(axis = -1): Value { return this.b.op1('Softmax', [this], { axis: A.int(axis) }); }
}

export interface OpOptions {
  outputs?: number;
  /** Exact output names (used when replaying an existing graph). */
  outputNames?: string[];
  name?: string;
  domain?: string;
}

/**
 * Builds an ONNX graph one node at a time, inferring each output's dtype and shape as it goes so
 * that model code can be written like the math (`x.matmul(w).add(b)`) and checked while written.
 */
export class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  readonly initializers = new Map<string, Tensor>();
  readonly metas = new Map<string, Meta>();
  readonly producers = new Map<string, Node>();
  private readonly used = new Set<string>();
  private counter = 0;

  constructor(readonly opset = 17, readonly name = 'graph') {}

  /** An unused value name with a readable prefix (claimed by whoever defines the value). */
  fresh(prefix: string): string {
    let n: string;
    do n = `${prefix}_${this.counter++}`; while (this.used.has(n));
    return n;
  }

  private claim(name: string): string {
    if (this.used.has(name)) throw new Error(`value name ${name} is already used in the graph`);
    this.used.add(name);
    return name;
  }

  value(name: string): Value {
    const m = this.metas.get(name);
    if (!m) throw new Error(`no value named ${name} in the graph`);
    return new Value(this, name, m);
  }
  has(name: string): boolean { return this.metas.has(name); }

  input(name: string, dtype: DType, shape: Dim[]): Value {
    this.claim(name);
    const meta: Meta = { dtype, shape };
    this.metas.set(name, meta);
    this.inputs.push({ name, dtype, shape });
    return new Value(this, name, meta);
  }

  initializer(name: string, t: Tensor): Value {
    this.claim(name);
    this.initializers.set(name, t);
    const meta: Meta = { dtype: t.dtype, shape: [...t.dims], value: t };
    this.metas.set(name, meta);
    return new Value(this, name, meta);
  }

  /** An anonymous constant (stored as an initializer). */
  constant(t: Tensor, prefix = 'const'): Value { return this.initializer(this.fresh(prefix), t); }
  scalar(v: number, dtype: DType): Value { return this.constant(Tensor.floats(dtype, [], [v]), 'scalar'); }
  constInt64(values: number[]): Value { return this.constant(Tensor.int64([values.length], values), 'ints'); }

  output(v: Value, name?: string): void {
    let out = v;
    if (name && name !== v.name) out = this.op('Identity', [v], {}, { outputNames: [name] })[0]!;
    this.outputs.push({ name: out.name, dtype: out.dtype, shape: out.meta.shape });
  }

  /** Appends a node; infers (and where possible folds) its outputs. */
  op(type: string, inputs: (Value | undefined)[], attrs: Record<string, AttrInput> = {}, opts: OpOptions = {}): Value[] {
    const count = opts.outputNames?.length ?? opts.outputs ?? 1;
    const outputs = opts.outputNames ? opts.outputNames.map((n) => this.claim(n)) : Array.from({ length: count }, () => this.claim(this.fresh(type.toLowerCase())));
    const node: Node = {
      opType: type,
      domain: opts.domain ?? '',
      name: opts.name ?? `${type}_${this.nodes.length}`,
      inputs: inputs.map((v) => v?.name ?? ''),
      outputs,
      attrs: new Map(Object.entries(attrs).map(([k, a]) => [k, toAttr(a)])),
    };
    return this.addNode(node);
  }

  op1(type: string, inputs: (Value | undefined)[], attrs: Record<string, AttrInput> = {}): Value {
    return this.op(type, inputs, attrs)[0]!;
  }

  /** Records an existing node (names already chosen) and infers its outputs. */
  addNode(node: Node, fallback?: Map<string, ValueInfo>): Value[] {
    const inputMetas = node.inputs.map((n) => {
      if (n === '') return undefined;
      const m = this.metas.get(n);
      if (!m) throw new Error(`node ${node.name} (${node.opType}) reads ${n}, which nothing produces`);
      return m;
    });
    const def = node.domain === '' || node.domain === 'ai.onnx' ? opDef(node.opType) : undefined;
    let metas: Meta[];
    if (def) {
      try {
        metas = def.infer({ node, inputs: inputMetas, opset: this.opset });
      } catch (e) {
        // Downstream of an op we do not model nothing can be inferred; say so only if it matters.
        if (!inputMetas.some((m) => m?.opaque)) throw new Error(`node ${node.name} (${node.opType}): ${(e as Error).message}`);
        metas = node.outputs.map(() => ({ dtype: inputMetas.find((m) => m)?.dtype ?? 'float32', shape: null, opaque: true }));
      }
      const known = inputMetas.map((m) => m?.value);
      const small = inputMetas.every((m) => !m || !m.value || m.value.size <= 4096);
      if (def.fold && small && !metas.some((m) => m.opaque) && node.inputs.every((n, i) => n === '' || known[i] !== undefined)) {
        const values = def.fold(known, node, this.opset);
        metas = metas.map((m, i) => ({ ...m, value: values[i], shape: values[i] ? [...values[i]!.dims] : m.shape }));
      }
      metas = metas.map((m) => withSymbolicValue(node, inputMetas, m, this.opset));
    } else {
      // An op we do not model: take what the file says about its outputs, else nothing is known.
      metas = node.outputs.map((o) => {
        const vi = fallback?.get(o);
        return vi ? { dtype: vi.dtype, shape: vi.shape } : { dtype: 'float32' as DType, shape: null, opaque: true };
      });
    }
    this.nodes.push(node);
    node.outputs.forEach((o, i) => {
      if (o === '') return;
      this.used.add(o);
      const m = metas[i];
      if (!m) throw new Error(`node ${node.name} (${node.opType}) has more outputs than it defines`);
      this.metas.set(o, m);
      this.producers.set(o, node);
    });
    return node.outputs.map((o) => new Value(this, o, this.metas.get(o) ?? { dtype: 'float32', shape: null }));
  }

  cast(v: Value, to: DType): Value {
    if (v.dtype === to) return v;
    return this.op1('Cast', [v], { to: A.int(ONNX_DTYPE[to]) });
  }

  /** A reduction, with axes as an input or an attribute as the opset requires. */
  reduce(type: string, x: Value, axes: number[] | undefined, keepdims: boolean): Value {
    const axesAsInput = type === 'ReduceSum' ? this.opset >= 13 : this.opset >= 18;
    const attrs: Record<string, AttrInput> = { keepdims: A.int(keepdims ? 1 : 0) };
    if (axes === undefined) return this.op1(type, [x], attrs);
    if (axesAsInput) return this.op1(type, [x, this.constInt64(axes)], attrs);
    return this.op1(type, [x], { ...attrs, axes: A.ints(axes) });
  }

  /** Unsqueeze/Squeeze with axes as an input (opset ≥ 13) or an attribute. */
  unsqueeze(x: Value, axes: number[]): Value {
    return this.opset >= 13 ? this.op1('Unsqueeze', [x, this.constInt64(axes)]) : this.op1('Unsqueeze', [x], { axes: A.ints(axes) });
  }
  squeeze(x: Value, axes: number[]): Value {
    return this.opset >= 13 ? this.op1('Squeeze', [x, this.constInt64(axes)]) : this.op1('Squeeze', [x], { axes: A.ints(axes) });
  }

  /** A runtime Shape of x, or a constant when x's shape is static. */
  shapeOf(x: Value): Value {
    return x.isStatic ? this.constInt64(x.dims) : this.op1('Shape', [x]);
  }

  zerosLike(x: Value): Value {
    if (x.isStatic) return this.constant(Tensor.floats(x.dtype, x.dims, new Array<number>(x.dims.reduce((a, b) => a * b, 1)).fill(0)), 'zeros');
    const zero = Tensor.floats(x.dtype, [1], [0]);
    return this.op1('ConstantOfShape', [this.op1('Shape', [x])], { value: { kind: 'tensor', value: zero } });
  }

  build(): Graph {
    return {
      name: this.name,
      nodes: [...this.nodes],
      inputs: [...this.inputs],
      outputs: [...this.outputs],
      initializers: new Map(this.initializers),
      valueInfo: new Map(),
    };
  }

  toModel(): Model {
    return {
      irVersion: 8,
      opsets: [{ domain: '', version: this.opset }],
      producerName: 'clipag',
      producerVersion: '0.1.0',
      graph: this.build(),
      metadata: new Map(),
    };
  }

  /**
   * Replays a model's graph into a builder so it can be inspected and extended.
   * `inputShapes` fixes dynamic input dims (a batch size, say) before inference runs.
   */
  static fromModel(model: Model, inputShapes: Record<string, Dim[]> = {}): GraphBuilder {
    const g = model.graph;
    const b = new GraphBuilder(defaultOpset(model), g.name);
    for (const inp of g.inputs) {
      const fixed = inputShapes[inp.name];
      if (fixed && inp.shape && fixed.length !== inp.shape.length) {
        throw new Error(`input ${inp.name} has rank ${inp.shape.length}, got shape ${fmtShape(fixed)}`);
      }
      b.input(inp.name, inp.dtype, fixed ?? inp.shape ?? []);
      if (!inp.shape && !fixed) b.metas.set(inp.name, { dtype: inp.dtype, shape: null });
    }
    for (const name of Object.keys(inputShapes)) {
      if (!g.inputs.some((i) => i.name === name)) throw new Error(`the model has no input named ${name}`);
    }
    for (const [name, t] of g.initializers) b.initializer(name, t);
    for (const node of topoSort(g.nodes, new Set([...g.inputs.map((i) => i.name), ...g.initializers.keys()]))) {
      b.addNode({ ...node, attrs: new Map(node.attrs), inputs: [...node.inputs], outputs: [...node.outputs] }, g.valueInfo);
    }
    for (const o of g.outputs) {
      const m = b.metas.get(o.name);
      if (!m) throw new Error(`graph output ${o.name} is produced by no node`);
      b.outputs.push({ name: o.name, dtype: m.dtype, shape: m.shape ?? o.shape });
    }
    return b;
  }
}

