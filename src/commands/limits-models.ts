/**
 * /limits set default_model and allowed_models: names checked against the models the bot has now
 * (matched without case, stored as the packs spell them), and a default the allowed list excludes
 * refused, so a server never ends up with a default its members may not use.
 */
import { nameList } from '../bot/models.js';
import { quoteText } from '../bot/sanitize.js';
import type { Engines } from '../jobs/engine-pool.js';
import type { GuildLimits } from '../store/limits.js';

type ModelPatch = Partial<Pick<GuildLimits, 'defaultModel' | 'allowedModels'>>;

/** The patch for the two options (either may be null: not given), or the one line saying what is wrong. */
export function modelPatch(engines: Engines, defaultOpt: string | null, allowedOpt: string | null, current: GuildLimits): ModelPatch | string {
  const out: ModelPatch = {};
  const unknown = (name: string): string => `there is no model called "${quoteText(name, 100)}"; models on this bot: ${nameList(engines.list())}.`;
  if (allowedOpt !== null) {
    const names = allowedOpt.trim().toLowerCase() === 'all' ? [] : allowedOpt.split(',').map((n) => n.trim()).filter((n) => n !== '');
    if (allowedOpt.trim() !== '' && allowedOpt.trim().toLowerCase() !== 'all' && !names.length) return 'allowed_models: name models separated by commas, or "all".';
    const canonical: string[] = [];
    for (const n of names) {
      const pack = engines.find(n);
      if (!pack) return `allowed_models: ${unknown(n)}`;
      if (!canonical.includes(pack.name)) canonical.push(pack.name);
    }
    out.allowedModels = canonical;
  }
  if (defaultOpt !== null) {
    const t = defaultOpt.trim();
    if (t === '' || t.toLowerCase() === 'bot') out.defaultModel = '';
    else {
      const pack = engines.find(t);
      if (!pack) return `default_model: ${unknown(t)}`;
      out.defaultModel = pack.name;
    }
  }
  const allowed = out.allowedModels ?? current.allowedModels;
  const def = out.defaultModel ?? current.defaultModel;
  if (def && allowed.length && !allowed.some((m) => m.toLowerCase() === def.toLowerCase())) {
    return `default_model \`${def}\` is not among allowed_models (${allowed.map((m) => `\`${m}\``).join(', ')}): allow it, or choose another default.`;
  }
  return out;
}
