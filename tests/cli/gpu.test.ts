import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dawnFlags } from '../../src/cli/gpu';

describe('Dawn flags', () => {
  it('disable timestamp quantization by default', () => {
    assert.deepEqual(dawnFlags(''), ['disable-dawn-features=timestamp_quantization']);
  });

  it("keep the user's flags and add to their disabled toggles", () => {
    assert.deepEqual(
      dawnFlags(
        'enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia; disable-dawn-features=lazy_clear_resource_on_first_use'
      ),
      [
        'enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia',
        'disable-dawn-features=lazy_clear_resource_on_first_use,timestamp_quantization'
      ]
    );
  });

  it('leave quantization on when the flags enable it', () => {
    const flags = 'enable-dawn-features=timestamp_quantization';
    assert.deepEqual(dawnFlags(flags), [flags]);
  });
});
