"""Published reports: the monthly assessment (督查考核月报) as a workbook and a printable PDF."""
