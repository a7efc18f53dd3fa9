/**
 * What a pack's note says of an alignment phase: the words the shipped packs' notes use, so a
 * staged model's note (each stage carrying the last one's on) reads as one recipe.
 */
export interface AlignPhaseWords {
  items: number;
  weight: number;
  /** 0: unweighted. */
  shapeWeight: number;
  paired: boolean;
  /** Paired chain pictures: the chance a two-shape one's partner leaves a shape out (0: never). */
  drop: number;
  /** Paired chain pictures: the partners' change weights where they are not the default mix ('' otherwise). */
  mix: string;
  /** 0: off. */
  trajectory: number;
  /** Weight of the truth ranking; 0: off. */
  truth: number;
  /** Chains' share of two-shape captions; undefined: the batch's own. */
  twoShapes?: number | undefined;
  chains: number;
  /** The chains' climb where it is not synthesis's own ('' otherwise). */
  chainClimb: string;
  views: boolean;
  cycles: number;
}

export function alignPhaseText(steps: number, w: AlignPhaseWords): string {
  const parts = [
    `${w.items} items`,
    `weight ${w.weight}`,
    w.shapeWeight > 0 ? `shape pixels ×${w.shapeWeight}` : '',
    w.paired ? 'in pairs one change apart' : '',
    w.paired && w.chains > 0 && w.drop > 0 ? `a shape left out of ${Math.round(100 * w.drop)} % of two-shape partners` : '',
    w.paired && w.chains > 0 && w.mix ? `partners' changes ${w.mix}` : '',
    w.trajectory > 0 ? `half moved ${w.trajectory} steps along synthesis` : '',
    w.chains > 0 ? `${w.chains} from synthesis chains${w.chainClimb}` : '',
    w.chains > 0 && w.twoShapes !== undefined ? `${Math.round(100 * w.twoShapes)} % of them with two-shape captions` : '',
    w.views ? 'seen through synthesis\'s views' : '',
    w.truth > 0 ? `true pictures ranked above the items' at weight ${w.truth}` : '',
    w.cycles > 1 ? `in ${w.cycles} lr cycles` : '',
  ];
  return `${steps} gradient-alignment steps (${parts.filter(Boolean).join(', ')})`;
}
