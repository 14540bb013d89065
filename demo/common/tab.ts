/** A section of the demo page. Tabs are registered in one list, demo/tabs.ts. */
export interface DemoTab {
  /** Stable id (used for element ids and the URL hash). */
  id: string;
  /** The tab's visible name. */
  label: string;
  /** Build the tab's content into its (empty) panel; called once, when the page loads. */
  mount(panel: HTMLElement): void;
}
