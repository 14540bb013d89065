/**
 * The demo's tabs, in order. To add a section, write a module exporting a `DemoTab`
 * (see demo/common/tab.ts) and add it to this list.
 */
import { balanceTab } from './balance/balanceTab.js';
import type { DemoTab } from './common/tab.js';
import { flowTab } from './flow/flowTab.js';

export const TABS: DemoTab[] = [balanceTab, flowTab];
