import { Command } from 'commander';
import { registerEmbed } from './cli/embed.js';
import { registerGrad } from './cli/grad.js';
import { registerModel } from './cli/model.js';

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

registerEmbed(program);
registerModel(program);
registerGrad(program);

await program.parseAsync(process.argv);
