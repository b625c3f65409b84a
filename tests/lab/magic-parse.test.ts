import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  errorOutput,
  ICommandInvocation,
  isTrtMagic,
  MAGIC_COMMANDS,
  MagicError,
  parseMagic,
  runMagic,
  tokenize,
  usageLine
} from '../../src/lab/magics/index';
import { testContext } from '../helpers/magic-context';

/** The command call of a cell that must parse as one. */
function call(source: string): ICommandInvocation {
  const invocation = parseMagic(source);
  assert.equal(invocation.kind, 'command', `${source} parses as ${invocation.kind}`);
  return invocation as ICommandInvocation;
}

/** Asserts that parsing `source` fails with a MagicError whose message matches `message`. */
function assertParseError(source: string, message: RegExp): MagicError {
  let caught: unknown;
  try {
    parseMagic(source);
  } catch (error) {
    caught = error;
  }
  assert.ok(
    caught instanceof MagicError,
    `${source}: expected a MagicError, got ${String(caught)}`
  );
  assert.match(caught.message, message);
  return caught;
}

describe('isTrtMagic', () => {
  test('takes cells whose first non-blank line starts with %trt or %%trt', () => {
    for (const source of [
      '%trt info',
      '%trt',
      '\n  \n%%trt convert\nprecision: fp16',
      '  %trt run x.wtrt'
    ]) {
      assert.ok(isTrtMagic(source), source);
    }
  });

  test('leaves every other cell to the kernel', () => {
    for (const source of [
      '',
      'print(1)',
      '%trtx info',
      '%timeit f()',
      '# %trt info\n%trt info',
      'x = 1\n%trt info'
    ]) {
      assert.ok(!isTrtMagic(source), source);
    }
  });
});

describe('tokenize', () => {
  test('splits as a shell does, quotes keeping spaces in paths', () => {
    assert.deepEqual(
      tokenize(`run "my model.wtrt" --input 'x=in put.npy' my\\ dir/x.npy "a\\"b" '' "c\\d"`),
      ['run', 'my model.wtrt', '--input', 'x=in put.npy', 'my dir/x.npy', 'a"b', '', 'c\\d']
    );
  });

  test('an unclosed quote is an error naming the quote', () => {
    assert.throws(() => tokenize('run "model.wtrt'), /unclosed " quote/);
  });
});

describe('parseMagic: the line', () => {
  test('flags as --name value, --name=value and short aliases, with typed values', () => {
    const { command, call: parsed } = call(
      '%trt convert "my model.onnx" -o out.wtrt --precision=fp16 --shapes input:1x3x32x32,mask:1x16 --workspace 64 --optimization-level 0'
    );
    assert.equal(command.name, 'convert');
    assert.deepEqual(parsed.operands, ['my model.onnx']);
    assert.deepEqual(parsed.options, {
      output: 'out.wtrt',
      precision: 'fp16',
      shapes: new Map([
        ['input', [1, 3, 32, 32]],
        ['mask', [1, 16]]
      ]),
      workspace: 64,
      'optimization-level': 0
    });
  });

  test('repeated list and map flags add up; a tensor name may hold colons', () => {
    const bench = call('%trt bench m.onnx --batch 1,8 --batch 16 --shapes x:0:1x4 --shapes y:2');
    assert.deepEqual(bench.call.options.batch, [1, 8, 16]);
    assert.deepEqual(
      bench.call.options.shapes,
      new Map([
        ['x:0', [1, 4]],
        ['y', [2]]
      ])
    );
    const run = call('%trt run m.wtrt -i a=a.npy --input "b=my b.npy"');
    assert.deepEqual(
      run.call.options.input,
      new Map([
        ['a', 'a.npy'],
        ['b', 'my b.npy']
      ])
    );
  });

  test('a flag given twice, or a name given twice, is an error', () => {
    assertParseError(
      '%trt convert m.onnx --precision fp16 --precision fp32',
      /--precision is given twice/
    );
    assertParseError('%trt run m.wtrt --input a=a.npy --input a=b.npy', /--input gives 'a' twice/);
  });

  test('unknown flags name the flag, suggest a near one, and carry the usage line', () => {
    const error = assertParseError(
      '%trt convert m.onnx --precison fp16',
      /unknown flag --precison \(did you mean --precision\?\)/
    );
    const convert = MAGIC_COMMANDS.find(c => c.name === 'convert')!;
    assert.equal(error.usage, usageLine(convert));
    assert.match(
      error.usage!,
      /^usage: %trt convert model\.onnx \[-o model\.wtrt\] \[--precision fp32\|fp16\|int8\|best\] \[--calib model\.calib\]/
    );
    assertParseError(
      '%trt convert m.onnx --fp16',
      /unknown flag --fp16 \(trtexec's --fp16: here it is --precision fp16\)/
    );
    assertParseError(
      '%trt bench m.onnx --int8',
      /unknown flag --int8 \(trtexec's --int8: here it is --precision int8\)/
    );
    assertParseError(
      '%trt convert m.onnx --iterations 3',
      /convert has no --iterations, run, bench, compare and profile have it/
    );
    assertParseError('%trt convert m.onnx -x', /unknown flag -x/);
  });

  test('a missing value names the flag and what it takes', () => {
    assertParseError(
      '%trt convert m.onnx --precision',
      /--precision needs a value \(--precision fp32\|fp16\|int8\|best\)/
    );
    assertParseError('%trt convert m.onnx -o --precision fp16', /-o needs a value/);
    assertParseError('%trt convert m.onnx --output=', /--output needs a value/);
  });

  test('bad values name the flag and say what it takes', () => {
    assertParseError(
      '%trt convert m.onnx --precision int4',
      /--precision must be one of fp32, fp16, int8, best, got 'int4'/
    );
    assertParseError(
      '%trt convert m.onnx --optimization-level 6',
      /--optimization-level must be a whole number from 0 to 5, got '6'/
    );
    assertParseError(
      '%trt run m.wtrt --iterations 1.5',
      /--iterations must be a whole number of at least 1/
    );
    assertParseError('%trt convert m.onnx --shapes input', /--shapes 'input' must be name:dims/);
    assertParseError('%trt convert m.onnx --shapes input:1x3x', /write the sizes as 1x3x224x224/);
    assertParseError('%trt run m.wtrt --input x.npy', /--input 'x.npy' must be name=file.npy/);
    assertParseError('%trt bench m.onnx --precision native,,fp32', /empty item/);
    assertParseError(
      '%trt bench m.onnx --precision native,fp64',
      /must be one of native, fp32, fp16, int8, best, got 'fp64'/
    );
  });

  test('operands: missing, extra, and after --', () => {
    assertParseError('%trt convert', /missing the model: %trt convert model\.onnx/);
    assertParseError('%trt convert a.onnx b.onnx', /unexpected argument 'b\.onnx'/);
    assertParseError('%trt info now', /unexpected argument 'now'/);
    assert.deepEqual(call('%trt convert -- -odd.onnx').call.operands, ['-odd.onnx']);
  });

  test('unknown commands list the commands and suggest a near one', () => {
    assertParseError(
      '%trt covnert m.onnx',
      /unknown command 'covnert' \(did you mean 'convert'\?\): the commands are info, calibrate, convert, run, bench, compare, profile, inspect/
    );
  });

  test('a line magic holds one line', () => {
    assertParseError(
      '%trt info\nprecision: fp16',
      /%trt is a line magic: .* line 2 holds more\. Use %%trt/
    );
    assert.equal(call('\n%trt info\n  \n').command.name, 'info');
  });
});

describe('parseMagic: the %%trt cell body', () => {
  test('YAML options keyed by long flag names, the model by `model`', () => {
    const { call: parsed } = call(
      '%%trt convert\nmodel: my model.onnx\noutput: out.wtrt\nprecision: fp16\nshapes: {input: [1, 3, 32, 32], mask: 1x16}\nminimum-segment-size: 2\n# a comment\n'
    );
    assert.deepEqual(parsed.operands, ['my model.onnx']);
    assert.deepEqual(parsed.options, {
      output: 'out.wtrt',
      precision: 'fp16',
      shapes: new Map([
        ['input', [1, 3, 32, 32]],
        ['mask', [1, 16]]
      ]),
      'minimum-segment-size': 2
    });
    const run = call('%%trt run m.wtrt\ninput: {x: x.npy, "y:0": y.npy}\niterations: "3"');
    assert.deepEqual(
      run.call.options.input,
      new Map([
        ['x', 'x.npy'],
        ['y:0', 'y.npy']
      ])
    );
    assert.equal(run.call.options.iterations, 3);
    const bench = call('%%trt bench m.onnx\nbatch: [1, 8]\nprecision: native,fp32');
    assert.deepEqual(bench.call.options.batch, [1, 8]);
    assert.deepEqual(bench.call.options.precision, ['native', 'fp32']);
  });

  test('body options and line flags merge; one option in both is an error', () => {
    const { call: parsed } = call('%%trt convert m.onnx -o out.wtrt\nprecision: fp16');
    assert.deepEqual(parsed.options, { output: 'out.wtrt', precision: 'fp16' });
    assertParseError(
      '%%trt convert m.onnx --precision fp32\nprecision: fp16',
      /--precision is given on the %%trt line and as 'precision' in the cell body: give it once/
    );
    assertParseError(
      '%%trt convert a.onnx\nmodel: b.onnx',
      /the model is given twice, as 'a\.onnx' on the %%trt line and as 'model' in the cell body/
    );
  });

  test('unknown keys and bad values name the key', () => {
    assertParseError(
      '%%trt convert m.onnx\nminimum_segment_size: 2',
      /unknown option 'minimum_segment_size' in the cell body \(did you mean 'minimum-segment-size'\?\)/
    );
    assertParseError(
      '%%trt convert m.onnx\nprecision: [fp16]',
      /'precision' in the cell body must be one of fp32, fp16, int8, best, got a list/
    );
    assertParseError(
      '%%trt convert m.onnx\nshapes: [1, 3]',
      /'shapes' in the cell body must be a mapping of input names/
    );
    assertParseError(
      '%%trt convert m.onnx\nshapes: {input: [1, -3]}',
      /sizes must be whole numbers/
    );
    assertParseError(
      '%%trt convert m.onnx\noutput:',
      /'output' in the cell body must be a string, got no value/
    );
  });

  test('YAML errors give the line of the cell; a body that is not a mapping is refused', () => {
    assertParseError(
      '%%trt convert m.onnx\nprecision: fp16\nprecision: fp32',
      /not valid YAML: Map keys must be unique \(line 3 of the cell, column 1\)/
    );
    assertParseError(
      '\n%%trt convert m.onnx\nshapes: {input: [1, 3\n',
      /not valid YAML: .*\(line 4 of the cell, column 1\)/
    );
    assertParseError('%%trt convert m.onnx\n- fp16', /'name: value' lines, got a list/);
    assert.deepEqual(call('%%trt convert m.onnx\n\n# nothing yet\n').call.options, {});
  });
});

describe('help', () => {
  test('%trt alone, %trt help, -h and --help ask for help', () => {
    for (const source of ['%trt', '%trt help', '%trt --help', '%%trt']) {
      assert.deepEqual(parseMagic(source), {
        kind: 'help',
        magic: source.startsWith('%%') ? '%%trt' : '%trt'
      });
    }
    for (const source of ['%trt help run', '%trt run --help', '%trt run model.wtrt --bogus -h']) {
      const invocation = parseMagic(source);
      assert.equal(invocation.kind, 'help');
      assert.equal(invocation.command?.name, 'run', source);
    }
    assertParseError('%trt help nope', /unknown command 'nope'/);
  });

  test('the overview lists every command with its summary', async () => {
    const context = testContext();
    await runMagic('%trt help', context);
    assert.equal(context.outputs.length, 1);
    const text = context.outputs[0]['text/plain'] as string;
    assert.deepEqual(Object.keys(context.outputs[0]), ['text/plain']);
    for (const command of MAGIC_COMMANDS) {
      assert.match(text, new RegExp(`^  ${command.name} +${command.summary.slice(0, 20)}`, 'm'));
    }
  });

  for (const command of MAGIC_COMMANDS) {
    test(`%trt help ${command.name} and %trt ${command.name} --help print its usage and options`, async () => {
      const context = testContext();
      await runMagic(`%trt help ${command.name}`, context);
      await runMagic(`%trt ${command.name} --help`, context);
      const [help, again] = context.outputs.map(output => output['text/plain'] as string);
      assert.equal(help, again);
      assert.ok(help.startsWith(`usage: %trt ${command.name}`));
      for (const [name, option] of Object.entries(command.options)) {
        const spelled = `${option.short ? `-${option.short}, ` : ''}--${name}`;
        assert.ok(help.includes(`  ${spelled}`), `${command.name} --help lists ${spelled}`);
      }
      assert.match(help, /-h, --help +show this help/);
      if (command.cellExample) {
        // The example in the help parses as the command it documents.
        assert.equal(call(command.cellExample).command, command);
      }
    });
  }
});

describe('errorOutput', () => {
  test('a MagicError is its message and usage, without a stack', () => {
    const output = errorOutput(
      new MagicError("'x.onnx' does not exist", { usage: 'usage: %trt convert model.onnx' })
    );
    assert.equal(output.ename, 'MagicError');
    assert.equal(output.evalue, "'x.onnx' does not exist");
    assert.deepEqual(output.traceback, [
      "\u001b[0;31mMagicError\u001b[0m: 'x.onnx' does not exist",
      '',
      'usage: %trt convert model.onnx'
    ]);
  });

  test('an interrupt says the command stopped and wrote nothing', () => {
    const controller = new AbortController();
    controller.abort(new DOMException('interrupted', 'AbortError'));
    const output = errorOutput(controller.signal.reason);
    assert.equal(output.ename, 'KeyboardInterrupt');
    assert.match(output.evalue, /^Interrupted: .*stopped before it finished.*wrote no files/);
    assert.equal(output.traceback.length, 1);
  });

  test('an unexpected error keeps its stack', () => {
    const error = new TypeError('x is undefined');
    const output = errorOutput(error);
    assert.equal(output.ename, 'TypeError');
    assert.equal(output.evalue, 'x is undefined');
    assert.ok(output.traceback.length > 1);
    assert.ok(output.traceback.slice(1).every(line => /^\s+at /.test(line)));
    assert.deepEqual(errorOutput('plain text'), {
      ename: 'Error',
      evalue: 'plain text',
      traceback: ['\u001b[0;31mError\u001b[0m: plain text']
    });
  });
});
