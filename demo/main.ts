/** The demo page: an accessible tab list built from demo/tabs.ts, and the WebGPU status line. */
import './style.css';
import { chooseBackend } from '../src/index.js';
import { byId, el } from './common/dom.js';
import { webGpuUnavailable } from './common/runner.js';
import { TABS } from './tabs.js';

function mountTabs(tabList: HTMLElement, panels: HTMLElement): void {
  const buttons: HTMLButtonElement[] = [];
  const sections: HTMLElement[] = [];
  const select = (index: number, focus = false): void => {
    buttons.forEach((b, k) => {
      b.setAttribute('aria-selected', String(k === index));
      b.tabIndex = k === index ? 0 : -1;
      sections[k].hidden = k !== index;
    });
    if (focus) buttons[index].focus();
    history.replaceState(null, '', `#${TABS[index].id}`);
  };
  TABS.forEach((tab, k) => {
    const button = el('button', { type: 'button', role: 'tab', id: `tab-${tab.id}`, 'aria-controls': `panel-${tab.id}`, text: tab.label });
    const panel = el('section', { role: 'tabpanel', id: `panel-${tab.id}`, 'aria-labelledby': `tab-${tab.id}` });
    button.addEventListener('click', () => select(k));
    button.addEventListener('keydown', (event) => {
      const step = event.key === 'ArrowRight' ? 1 : event.key === 'ArrowLeft' ? -1 : 0;
      if (step) select((k + step + TABS.length) % TABS.length, true);
    });
    buttons.push(button);
    sections.push(panel);
    tabList.append(button);
    panels.append(panel);
    tab.mount(panel);
  });
  const initial = TABS.findIndex((t) => `#${t.id}` === location.hash);
  select(Math.max(0, initial));
}

async function showWebGpuStatus(line: HTMLElement): Promise<void> {
  const missing = await webGpuUnavailable();
  // The library's own rule for 'auto' (a software adapter such as SwiftShader is not used).
  const auto = missing ? null : await chooseBackend('auto').catch(() => null);
  const software = auto?.fallback?.kind === 'software-adapter';
  line.textContent = missing
    ? `WebGPU is not available here (${missing}): runs use the CPU in a Web Worker.`
    : software
      ? 'WebGPU is available here only through a software adapter (a CPU emulation of a GPU, slower than the CPU engine): the auto backend runs on the CPU; choose WebGPU to use the software adapter anyway.'
      : `WebGPU is available${auto?.adapter ? ` (${auto.adapter})` : ''}: the auto backend runs on the GPU.`;
  line.dataset.webgpu = missing ? 'missing' : 'available';
  line.dataset.adapter = missing ? 'none' : software ? 'software' : 'hardware';
}

// A file dropped outside a drop zone must not navigate away from the page (and lose its state).
for (const type of ['dragover', 'drop'] as const) window.addEventListener(type, (event) => event.preventDefault());

mountTabs(byId(document, 'tabs'), byId(document, 'panels'));
void showWebGpuStatus(byId(document, 'webgpu-status'));
