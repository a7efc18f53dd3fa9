// Importing a family registers its ops; this file is the one list of families.
import './arith.js';
import './unary.js';
import './compare.js';
import './matmul.js';
import './softmax.js';
import './norm.js';
import './reduce.js';
import './shape.js';
import './reshape.js';
import './slice.js';
import './join.js';
import './gather.js';
import './conv.js';
import './pool.js';
