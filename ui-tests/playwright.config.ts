/**
 * Browser tests of the JupyterLab extension. Galata drives JupyterLab in Debian's Chromium,
 * whose WebGPU adapter is SwiftShader (Vulkan on the CPU), so `%trt` cells build and run engines
 * on machines without a GPU. Playwright's own browser download cannot be fetched here; run with
 * PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 (scripts/ui-tests.sh does).
 */
import { defineConfig } from '@playwright/test';

const port = Number(process.env.WEBTRT_UI_TESTS_PORT ?? 8888);
const inCI = Boolean(process.env.CI);

/**
 * WebGPU in headless Chromium without a GPU (shared/GPU.md). Playwright adds --headless and a new,
 * empty --user-data-dir itself.
 */
const webGpuOnSwiftShader = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader'
];

export default defineConfig({
  testDir: 'tests',
  // Screenshots, traces and the step screenshots the specs take (testInfo.outputPath).
  outputDir: 'test-results',
  reporter: [['list'], ['html', { outputFolder: 'playwright-report', open: 'never' }]],
  // One server and one software GPU on a 2-core machine: tests in parallel only slow each other.
  workers: 1,
  fullyParallel: false,
  retries: inCI ? 1 : 0,
  forbidOnly: inCI,
  // SwiftShader compiles and runs every shader on the CPU: a build of the small example models
  // takes tens of seconds there, so tests get minutes, not Playwright's default 30 s.
  timeout: 4 * 60_000,
  expect: { timeout: 30_000 },
  use: {
    baseURL: `http://localhost:${port}`,
    // Galata's default viewport, which the screenshots in docs/images/ are taken at.
    viewport: { width: 1024, height: 768 },
    screenshot: 'on',
    trace: 'retain-on-failure',
    // Video needs Playwright's own ffmpeg build, which cannot be downloaded here.
    video: 'off',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: webGpuOnSwiftShader
    }
  },
  webServer: {
    command: 'jupyter lab --config jupyter_server_test_config.py',
    url: `http://localhost:${port}/lab`,
    timeout: 120_000,
    // A server left on the port from another checkout would serve another build of the extension.
    reuseExistingServer: false
  }
});
