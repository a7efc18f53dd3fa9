import { Command } from 'commander';
import { log } from './log.js';
import { registerBench } from './cli/bench.js';
import { registerBot } from './cli/bot.js';
import { registerCommandsDeploy } from './cli/commands-deploy.js';
import { registerEmbed } from './cli/embed.js';
import { registerImagine } from './cli/imagine.js';
import { registerGrad } from './cli/grad.js';
import { registerModel } from './cli/model.js';
import { registerWorker } from './cli/worker.js';

// A command's own output says what happened; info lines (a GPU not found on a CPU host, say) are for
// the long-running bot's logs. LOG_LEVEL=info brings them back.
if (!process.env.LOG_LEVEL) log.level = 'warn';

const program = new Command();
program
  .name('clipag')
  .description('Generator-free text-to-image with a robust CLIP (CLIPAG), as a CLI and a Discord bot')
  .showHelpAfterError()
  .configureOutput({ writeOut: (s) => process.stderr.write(s), writeErr: (s) => process.stderr.write(s) })
  .exitOverride((err) => {
    // Usage mistakes exit 2 like every other user error; --help and --version exit 0.
    process.exit(err.exitCode === 0 ? 0 : 2);
  });

registerImagine(program);
registerEmbed(program);
registerModel(program);
registerBench(program);
registerGrad(program);
registerBot(program);
registerWorker(program);
registerCommandsDeploy(program);

await program.parseAsync(process.argv);
