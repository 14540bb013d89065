/**
 * `weight-balance make-net --arch 200,2500,1250,10 --seed 0 -o net.safetensors`: write a
 * He-initialised ReLU network.
 */
import { cnn, mlp } from '../../network/builders.js';
import { choiceArg, defineCommand, flagArg, integerArg, parseSizes, stringArg, UsageError } from '../args.js';
import { checkOutputPath, writeModelFile } from '../modelFile.js';

const USAGE = `usage: weight-balance make-net (--arch SIZES | --cnn) [--seed N] [--dtype f32|f64] -o OUT.safetensors

Write a ReLU network with He-normal weights (variance 2 / fan-in) and zero biases.

options:
  --arch SIZES         units per layer, input first: e.g. 200,2500,1250,10 (an MLP)
  --cnn                the small CNN preset instead (1x8x8 input; plain, grouped and depthwise
                       convolutions with max- and average-pooling, then two dense layers)
  --seed N             seed of the generator: one seed gives one network (default 0)
  --dtype f32|f64      element type of the weights (default f32)
  -o, --output OUT     where to write it (atomically): a .safetensors file (an .onnx file is
                       written only by 'balance', from an .onnx input)`;

/** The `make-net` subcommand. */
export default defineCommand(
  'make-net',
  USAGE,
  {
    arch: { type: 'string' },
    cnn: { type: 'boolean' },
    seed: { type: 'string' },
    dtype: { type: 'string' },
    output: { type: 'string', short: 'o' },
  },
  async (args, io) => {
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument '${args.positionals[0]}'`);
    const output = stringArg(args, 'output');
    if (output === undefined) throw new UsageError('give the output file with -o');
    const arch = stringArg(args, 'arch');
    const preset = flagArg(args, 'cnn');
    if ((arch === undefined) === !preset) throw new UsageError('give exactly one of --arch SIZES and --cnn');
    const seed = integerArg(args, 'seed', 0);
    const dtype = choiceArg(args, 'dtype', ['f32', 'f64'] as const, 'f32') === 'f64' ? 'float64' : 'float32';
    const sizes = arch === undefined ? null : parseSizes(arch, '--arch');
    await checkOutputPath(output);
    const net = sizes ? mlp(sizes, { seed, dtype }) : cnn({ seed, dtype });
    await writeModelFile(output, net);
    const weights = net.blocks.reduce((n, b) => n + b.weight.length, 0);
    const what = sizes ? `MLP ${sizes.join('-')}` : 'CNN preset';
    io.out(`wrote ${output}: ${what}, ${net.blocks.length} weight blocks, ${weights} weights, ${dtype}, seed ${seed}\n`);
    return 0;
  },
);
